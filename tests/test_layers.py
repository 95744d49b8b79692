"""The package's imports point down DESIGN.md's layers, never up, never in a circle (function-level imports
included: a deferred import is still a dependency)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# DESIGN.md "Layering", top to bottom; a module belongs to the first unit its dotted name starts with.
LAYERS = [
    ["trl_ext.cli", "trl_ext.demo"],
    ["trl_ext.leaderboard"],
    ["trl_ext.eval", "trl_ext.trainers", "trl_ext.train"],
    ["hub_datasets", "trl_ext.episodes"],
    ["trl_ext.rewards"],
    ["trl_ext.complexity"],
    [
        "trl_ext.execution",
        "trl_ext.hub",
        "trl_ext.objectives",
        "trl_ext.curriculum",
        "trl_ext.models",
        "trl_ext.schedules",
        "trl_ext.trainer_registry",
        "trl_ext.recipe_fields",
    ],
]
PACKAGES = ("trl_ext", "hub_datasets")


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "metric_modules" in path.parts:  # `evaluate` modules: loaded by path, not imported
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict) -> set[str]:
    """The project modules `name` imports, anywhere in the file (`from pkg import sub` counts as `pkg.sub`)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + [base]
                ).strip(".")
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _unit(module: str) -> tuple[int, str] | None:
    for layer, units in enumerate(LAYERS):
        for unit in units:
            if module == unit or module.startswith(unit + "."):
                return layer, unit
    return None  # the package root `trl_ext` (version, lazy exports)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_every_module_has_a_layer():
    assert [m for m in _graph() if _unit(m) is None] == ["trl_ext"]


def test_imports_point_down_the_layers():
    """Down, or within a layer (the CLI runs the demo); never up."""
    wrong = []
    for module, imported in _graph().items():
        here = _unit(module)
        for target in imported:
            there = _unit(target)
            if here and there and there[0] < here[0]:
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports up the layers:\n" + "\n".join(sorted(wrong))


def test_no_import_cycles():
    graph = _graph()
    cycles = []

    def visit(node, stack, on_stack, done):
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt in on_stack:
                cycles.append(" -> ".join(stack[stack.index(nxt) :] + [nxt]))
            elif nxt not in done:
                visit(nxt, stack, on_stack, done)
        stack.pop()
        on_stack.discard(node)
        done.add(node)

    done: set[str] = set()
    for node in sorted(graph):
        if node not in done:
            visit(node, [], set(), done)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_shared_names_have_one_home():
    """Names that several layers use are defined once, below all their users (issue 23 item 15)."""
    homes = {
        "PRECISIONS": "trl_ext.hub",
        "size_category": "trl_ext.hub",
        "load_model": "trl_ext.eval.loading",
    }
    defined: dict[str, list[str]] = {name: [] for name in homes}
    for module, path in _modules().items():
        for node in ast.parse(path.read_text()).body:
            names = (
                [node.name]
                if isinstance(node, (ast.FunctionDef, ast.ClassDef))
                else [t.id for t in node.targets if isinstance(t, ast.Name)]
                if isinstance(node, ast.Assign)
                else []
            )
            for name in names:
                if name in homes or name.lstrip("_") in homes:
                    defined[name.lstrip("_")].append(module)
    assert defined == {name: [home] for name, home in homes.items()}
