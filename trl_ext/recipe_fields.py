"""The option names a trainer's recipe may use, read from the source of its dataclasses without importing them.

`trl-ext train NAME --config RECIPE.yaml --flag value` is parsed by TRL's `TrlParser` over
`(TrainScriptArguments, <the trainer's config>, ModelConfig)`; importing those classes imports transformers and
torch (10-17 s). The CLI checks the recipe's keys and the flags first, so this module finds each dataclass's
fields with `ast` in the installed source files: the class's annotated assignments, then its bases, followed
through `from X import Name` (absolute or relative; a package's lazy `_import_structure`-style mapping
`"submodule": [..."Name"...]` names the submodule). No library does this; `tests/test_cli.py` checks the result
against `dataclasses.fields` of the real classes for every registered trainer.
"""

from __future__ import annotations

import ast
import importlib.util
import re
from functools import cache
from pathlib import Path


class SourceNotFound(LookupError):
    """A class of the chain could not be located in source form (the caller then skips the early check)."""


def _module_file(module: str) -> Path:
    """The source file of `module`, found without importing it (nor its parent packages)."""
    top, *rest = module.split(".")
    spec = importlib.util.find_spec(top)
    if spec is None or spec.origin is None:
        raise SourceNotFound(module)
    path = Path(spec.origin).parent if spec.submodule_search_locations else Path(spec.origin)
    if not rest:
        return Path(spec.origin)
    for part in rest[:-1]:
        path = path / part
    for candidate in (path / rest[-1] / "__init__.py", path / f"{rest[-1]}.py"):
        if candidate.is_file():
            return candidate
    raise SourceNotFound(module)


@cache
def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if is_package else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _locate(module: str, name: str, depth: int = 0) -> tuple[str, ast.ClassDef]:
    """The module that defines class `name` as seen from `module`, and its ClassDef."""
    if depth > 8:
        raise SourceNotFound(f"{module}.{name}")
    path = _module_file(module)
    tree = _parse(path)
    is_package = path.name == "__init__.py"
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return module, node
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == name for a in node.names):
            original = next(a.name for a in node.names if (a.asname or a.name) == name)
            return _locate(_absolute(module, is_package, node), original, depth + 1)
    if is_package:  # a lazy package: {"submodule": [..., "Name", ...]}
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"[\"'](\w+)[\"']\s*:\s*\[([^\]]*)\]", text):
            if re.search(rf"[\"']{re.escape(name)}[\"']", match.group(2)):
                return _locate(f"{module}.{match.group(1)}", name, depth + 1)
    raise SourceNotFound(f"{module}.{name}")


def _fields(module: str, node: ast.ClassDef) -> dict[str, str]:
    fields: dict[str, str] = {}
    for base in reversed(node.bases):  # the MRO's order: the first base's fields win
        if isinstance(base, ast.Name):
            fields.update(_fields(*_locate(module, base.id)))
        elif isinstance(base, ast.Attribute):
            raise SourceNotFound(f"{module}.{node.name}: base {ast.unparse(base)}")
    for item in node.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            annotation = ast.unparse(item.annotation)
            if "ClassVar" not in annotation:
                fields[item.target.id] = annotation
    return fields


@cache
def dataclass_fields(path: str) -> dict[str, str]:
    """{field name: its annotation's source text} of the dataclass `module:Class` and its dataclass bases."""
    module, _, name = path.partition(":")
    return _fields(*_locate(module, name))


_SCALARS = {"int": int, "float": float}


def check_value(name: str, annotation: str, value) -> str | None:
    """Why `value` (command-line text or a YAML scalar) cannot be the field's `int`/`float`/`bool` value, or
    None (other annotations are left to the real parser)."""
    kinds = [part.strip() for part in annotation.replace("Optional[", "").rstrip("]").split("|")]
    kinds = [k for k in kinds if k != "None"]
    if len(kinds) != 1 or value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
        return None
    kind = kinds[0]
    if kind == "bool":
        if isinstance(value, bool) or str(value).lower() in ("true", "false", "yes", "no", "1", "0"):
            return None
        return f"{name}: expected true or false, got {value!r}"
    if kind in _SCALARS and not isinstance(value, bool):
        try:
            _SCALARS[kind](value)
            return None
        except (TypeError, ValueError):
            article = "an integer" if kind == "int" else "a number"
            return f"{name}: expected {article}, got {value!r}"
    return None
