"""Software-evolution rows from a local git repository's history, after SWE-RL (Wei et al. 2025, arXiv 2502.18449).
`task = "swe"`.

    trl-ext build-dataset swe --source PATH_TO_GIT_REPO [--issues ISSUES.jsonl] --push-to-hub ./hub/datasets/swe

Each kept commit becomes one row: the issue it solves (the linked issue's title and body when an issues file is
given and the commit message names the issue as `#N`; otherwise the commit message), the code context (the
pre-change content of every file the change edits, plus the files the change imports or names, as SWE-RL gives
the model related files and not only the edited ones) and the oracle patch. SWE-RL's prompt asks for a reasoning
section, then search/replace edits; `trl_ext.rewards.swe` scores them: −1 when the output cannot be parsed or
applied, else the `difflib.SequenceMatcher` similarity of the predicted patch with the oracle patch.

Filters, in order: merge commits, root commits and bot authors are dropped; binary files are left out of a change;
a change that adds, deletes or renames a file (search/replace edits cannot express it) or that only touches tests
is dropped; so is an oversized one (too many files or changed lines, or a context over the size limit); last,
near-duplicates (the same edited files with an oracle patch ≥ `dedup_similarity` similar to a kept one) are
dropped. The oracle patch is written with `difflib` (as the reward writes the predicted one), so the reference
edits score exactly 1.0: every row is checked through the reward before it is kept. The test split holds the
most recent rows (a time split, so no training row comes after a test row).
"""

from __future__ import annotations

import difflib
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from hub_datasets.base import Built, card, markdown_table
from trl_ext.rewards import swe as verifier

BOT_AUTHOR = re.compile(
    r"\[bot\]|dependabot|renovate|github-actions|pre-commit-ci|greenkeeper|snyk-bot", re.I
)
TEST_PATH = re.compile(
    r"(^|/)(tests?|testing)/|(^|/)test_[^/]*$|_tests?\.[^/]+$|\.(spec|test)\.[^/]+$|(^|/)conftest\.py$"
)
IMPORT_LINE = re.compile(
    r"^[ \t]*(?:from[ \t]+(?P<dots>\.*)(?P<module>[\w.]*)[ \t]+import[ \t]+(?P<names>\(?[\w, \t]+)|import[ \t]+(?P<plain>[\w., \t]+))",
    re.M,
)
ISSUE_REF = re.compile(r"#(\d+)\b")
# A license file's title → the Hub's license id.
HUB_LICENSES = (
    (r"apache license", "apache-2.0"),
    (r"\bmit license|permission is hereby granted, free of charge", "mit"),
    (r"bsd 3-clause|redistribution and use in source and binary forms", "bsd-3-clause"),
    (r"gnu lesser general public license", "lgpl-3.0"),
    (r"gnu general public license", "gpl-3.0"),
    (r"mozilla public license", "mpl-2.0"),
)
LICENSE_FILES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "LICENSE.rst", "COPYING", "COPYING.txt")


@dataclass(frozen=True)
class SweConfig:
    """Filters of `build`; the defaults keep changes a model can plausibly make in one answer."""

    max_files: int = 4  # most edited files in one change
    max_changed_lines: int = 200  # most added + deleted lines
    max_context_chars: int = 60_000  # most characters of code context (edited + related files)
    max_related_files: int = 3  # most files added to the context because the change imports or names them
    dedup_similarity: float = 0.9  # a change this similar to a kept one (same files) is a near-duplicate
    test_fraction: float = 0.1  # the most recent rows held out as the test split (at least one)

    def validate(self) -> None:
        if (
            min(self.max_files, self.max_changed_lines, self.max_context_chars) < 1
            or self.max_related_files < 0
        ):
            raise ValueError(
                "swe knobs max_files, max_changed_lines, max_context_chars must be >= 1, max_related_files >= 0"
            )
        if not 0 < self.dedup_similarity <= 1 or not 0 < self.test_fraction < 1:
            raise ValueError("swe knobs need 0 < dedup_similarity <= 1 and 0 < test_fraction < 1")


def _git(repo: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(repo), "-c", "core.quotepath=off", *args], capture_output=True, text=True
    )
    if out.returncode != 0:
        raise ValueError(f"git {' '.join(args[:2])} failed in {repo}: {out.stderr.strip()}")
    return out.stdout


def _blob(repo: Path, commit: str, path: str) -> str | None:
    """A file's text at a commit; None when it is missing or not UTF-8 text."""
    out = subprocess.run(["git", "-C", str(repo), "show", f"{commit}:{path}"], capture_output=True)
    if out.returncode != 0 or b"\0" in out.stdout:
        return None
    try:
        return out.stdout.decode()
    except UnicodeDecodeError:
        return None


def load_issues(path: str | Path) -> dict[int, str]:
    """An issues JSONL file (one `{"number": N, "title": ..., "body": ...}` per line) → {number: issue text}."""
    issues = {}
    for line_no, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            number = int(record["number"])
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(
                f"{path}:{line_no}: an issue needs a JSON object with an integer `number` ({err})"
            ) from None
        issues[number] = "\n\n".join(p for p in (record.get("title"), record.get("body")) if p).strip()
    return issues


def issue_text(message: str, issues: dict[int, str]) -> tuple[str, str]:
    """The row's issue and where it came from: the first issue the commit message names, else the message."""
    for match in ISSUE_REF.finditer(message):
        if int(match.group(1)) in issues and issues[int(match.group(1))]:
            return issues[int(match.group(1))], f"issue #{match.group(1)}"
    return message.strip(), "commit message"


def is_test_path(path: str) -> bool:
    return bool(TEST_PATH.search(path))


def python_imports(path: str, source: str, repo_files: set[str]) -> list[str]:
    """The repository files a Python module imports (absolute and relative imports that resolve to a file). The
    import statements are read with a regex, not `ast`: walking every tree costs half of a build's time."""
    package = PurePosixPath(path).parent
    found = []
    for match in IMPORT_LINE.finditer(source):
        dots, module, names, plain = (
            match.group("dots"),
            match.group("module"),
            match.group("names"),
            match.group("plain"),
        )
        if plain is not None:
            modules = [m.strip().split(" as ")[0] for m in plain.split(",")]
        else:
            base = package
            for _ in range(max(len(dots) - 1, 0)):
                base = base.parent
            prefix = (str(base).replace("/", ".") + ".") if dots and str(base) != "." else ""
            stem = (prefix + (module or "")).strip(".")
            modules = [stem] + [
                f"{stem}.{n.strip().split(' as ')[0]}".strip(".") for n in names.strip("()").split(",")
            ]
        for module in modules:
            parts = [p for p in module.split(".") if p]
            for root in ("", "src/"):  # packages at the top or under src/
                for candidate in (root + "/".join(parts) + ".py", root + "/".join(parts) + "/__init__.py"):
                    if candidate in repo_files and candidate != path and candidate not in found:
                        found.append(candidate)
    return found


def named_files(text: str, repo_files: set[str], exclude: set[str]) -> list[str]:
    """Repository files whose path (or, for unambiguous names, file name) the text mentions."""
    by_name: dict[str, list[str]] = {}
    for f in repo_files:
        by_name.setdefault(PurePosixPath(f).name, []).append(f)
    found = []
    for token in sorted(set(re.findall(r"[\w./-]+\.\w+", text))):
        token = token.strip("./")
        hits = [token] if token in repo_files else by_name.get(token, [])
        if len(hits) == 1 and hits[0] not in exclude and hits[0] not in found:
            found.append(hits[0])
    return found


def unified_patch(old: dict[str, str], new: dict[str, str]) -> str:
    """A multi-file unified diff written with difflib, as the reward writes the predicted patch."""
    chunks = []
    for path in sorted(new):
        diff = difflib.unified_diff(
            old[path].splitlines(keepends=True), new[path].splitlines(keepends=True), f"a/{path}", f"b/{path}"
        )
        text = "".join(line if line.endswith("\n") else line + "\n" for line in diff)
        chunks.append(f"diff --git a/{path} b/{path}\n{text}")
    return "".join(chunks)


def reference_edits(old: dict[str, str], new: dict[str, str], context: int = 2) -> str:
    """Search/replace edits turning `old` into `new`: one per changed region with `context` unchanged lines around
    it, widened until its SEARCH text is unique; a whole-file edit when a region cannot be made unique."""
    blocks = []
    for path in sorted(new):
        a, b = old[path].splitlines(keepends=True), new[path].splitlines(keepends=True)
        groups = difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(context)
        edits = []
        for group in groups:
            i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
            while "".join(a).count("".join(a[i1:i2])) != 1 or i1 == i2:
                if i1 == 0 and i2 == len(a):
                    break
                i1, j1 = max(i1 - 1, 0), max(j1 - 1, 0)
                i2, j2 = min(i2 + 1, len(a)), min(j2 + 1, len(b))
            edits.append(("".join(a[i1:i2]), "".join(b[j1:j2])))
        if not verifier.edits_reproduce(old[path], new[path], edits):
            edits = [(old[path], new[path])]
        blocks += [verifier.format_edit(path, search, replace) for search, replace in edits]
    return "\n".join(blocks)


def _commits(repo: Path) -> list[dict]:
    fields = "%H%x1f%P%x1f%an%x1f%ae%x1f%cI%x1f%B%x1e"
    out = []
    for record in _git(repo, "log", "--reverse", f"--format={fields}").split("\x1e"):
        if not record.strip():
            continue
        sha, parents, name, email, date, message = record.strip("\n").split("\x1f")
        out.append(
            {
                "sha": sha,
                "parents": parents.split(),
                "author": f"{name} <{email}>",
                "date": date,
                "message": message,
            }
        )
    return out


def _row(repo: Path, commit: dict, issues: dict[int, str], config: SweConfig) -> tuple[dict | None, str]:
    """The row of one commit, or None and the filter that dropped it."""
    if len(commit["parents"]) > 1:
        return None, "merge"
    if not commit["parents"]:
        return None, "root commit"
    if BOT_AUTHOR.search(commit["author"]):
        return None, "bot"
    parent, sha = commit["parents"][0], commit["sha"]
    status = [
        line.split("\t")
        for line in _git(repo, "diff-tree", "-r", "-M", "--name-status", parent, sha).splitlines()
    ]
    numstat = [
        line.split("\t") for line in _git(repo, "diff-tree", "-r", "--numstat", parent, sha).splitlines()
    ]
    binary = {parts[2] for parts in numstat if parts[0] == "-"}
    text_changes = [s for s in status if s[-1] not in binary]
    if not text_changes:
        return None, "binary only"
    if any(s[0] != "M" for s in text_changes):
        return None, "adds, deletes or renames a file"
    paths = sorted(s[1] for s in text_changes)
    if all(is_test_path(p) for p in paths):
        return None, "tests only"
    changed = sum(int(p[0]) + int(p[1]) for p in numstat if p[0] != "-" and p[2] in paths)
    if len(paths) > config.max_files or changed > config.max_changed_lines:
        return None, "oversized"
    old = {p: _blob(repo, parent, p) for p in paths}
    new = {p: _blob(repo, sha, p) for p in paths}
    if any(v is None for v in (*old.values(), *new.values())):
        return None, "binary only"
    issue, issue_source = issue_text(commit["message"], issues)
    repo_files = set(_git(repo, "ls-tree", "-r", "--name-only", parent).splitlines())
    related: list[str] = []
    for p in paths:
        if p.endswith(".py"):
            related += [f for f in python_imports(p, old[p] + new[p], repo_files) if f not in paths]
    patch = unified_patch(old, new)
    related += named_files(issue + "\n" + patch, repo_files, set(paths))
    context = dict(old)
    for path in dict.fromkeys(related):
        if len(context) - len(paths) >= config.max_related_files:
            break
        content = _blob(repo, parent, path)
        if content is not None:
            context[path] = content
    if sum(len(c) for c in context.values()) > config.max_context_chars:
        return None, "oversized"
    row = {
        "prompt": [
            {"role": "system", "content": verifier.SYSTEM_PROMPT},
            {"role": "user", "content": verifier.user_prompt(issue, context)},
        ],
        "task": "swe",
        "issue": issue,
        "issue_source": issue_source,
        "code_context": json.dumps(context, sort_keys=True),
        "edited_files": paths,
        "oracle_patch": patch,
        "answer": verifier.format_answer("The commit's own change.", reference_edits(old, new)),
        "commit": sha,
        "date": commit["date"],
        "changed_lines": changed,
    }
    return row, "kept"


def _near_duplicate(row: dict, kept: list[dict], threshold: float) -> bool:
    """Whether a kept row edits the same files with an oracle patch at least `threshold` similar, compared line by
    line (a character-level ratio is quadratic in the patches' length)."""
    lines = row["oracle_patch"].splitlines()
    for other in kept:
        if other["edited_files"] != row["edited_files"]:
            continue
        matcher = difflib.SequenceMatcher(None, other["oracle_patch"].splitlines(), lines)
        if matcher.real_quick_ratio() >= threshold and matcher.quick_ratio() >= threshold:
            if matcher.ratio() >= threshold:
                return True
    return False


def collect(
    repo: str | Path, issues: dict[int, str] | None = None, config: SweConfig = SweConfig()
) -> tuple[list[dict], dict]:
    """The kept rows (oldest first) of a repository's history and how many commits each filter dropped."""
    repo = Path(repo).expanduser().resolve()
    if not repo.is_dir():
        raise ValueError(f"--source {repo} is not a directory: give the path of a local git repository")
    if subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True).returncode != 0:
        raise ValueError(f"--source {repo} is not a git repository with at least one commit")
    rows: list[dict] = []
    dropped: dict[str, int] = {}
    commits = _commits(repo)
    for commit in tqdm(commits, desc="swe: commits", leave=False):
        row, reason = _row(repo, commit, issues or {}, config)
        if row is not None and verifier.score([row["answer"]], [row])[0] != 1.0:
            row, reason = None, "edits not expressible"  # e.g. a SEARCH text holding the `=======` divider
        if row is not None and _near_duplicate(row, rows, config.dedup_similarity):
            row, reason = None, "near-duplicate"
        if row is None:
            dropped[reason] = dropped.get(reason, 0) + 1
        else:
            rows.append(row)
    return rows, {"commits": len(commits), "kept": len(rows), "dropped": dropped}


def repository_license(repo: Path) -> tuple[str, str]:
    """(the Hub's license id, where it was read) for the repository at HEAD: its license file's title, or the
    `license = "..."` of its pyproject.toml; ("other", "no license found") when neither names a known license."""
    for name in LICENSE_FILES:
        text = _blob(repo, "HEAD", name)
        if text:
            title = " ".join(text.split()[:12]).lower()
            for pattern, hub_id in HUB_LICENSES:
                if re.search(pattern, title):
                    return hub_id, f"`{name}`"
            return "other", f"`{name}` (not recognised: read it)"
    match = re.search(
        r'^license\s*=\s*(?:\{\s*text\s*=\s*)?"([^"]+)"', _blob(repo, "HEAD", "pyproject.toml") or "", re.M
    )
    if match:
        return match.group(1).lower(), "`pyproject.toml`"
    return "other", "no license found"


def repository_name(repo: Path) -> str:
    """The origin remote's URL (without any user or token in it) when the repository has one, else its folder
    name."""
    out = subprocess.run(
        ["git", "-C", str(repo), "remote", "get-url", "origin"], capture_output=True, text=True
    )
    url = out.stdout.strip() if out.returncode == 0 else ""
    return re.sub(r"^([a-z+]+://)[^/@]*@", r"\1", url) if url else repo.name


def build(
    source: str | None,
    issues_path: str | None = None,
    *,
    n: int | None = None,
    n_test: int | None = None,
    config: SweConfig = SweConfig(),
) -> Built:
    """Build the dataset from the git repository at `source`; `n`/`n_test` cap the train/test rows (newest kept)."""
    from datasets import Dataset, DatasetDict

    if not source:
        raise ValueError("swe builds from a local git repository: give --source PATH_TO_GIT_REPO")
    repo = Path(source).expanduser().resolve()
    issues = load_issues(issues_path) if issues_path else {}
    rows, stats = collect(repo, issues, config)
    if len(rows) < 2:
        raise ValueError(
            f"{repo}: only {len(rows)} of {stats['commits']} commits pass the filters ({stats['dropped']}); "
            "a train and a test split need at least 2"
        )
    held_out = n_test if n_test is not None else max(1, round(config.test_fraction * len(rows)))
    held_out = min(held_out, len(rows) - 1)
    train, test = rows[: len(rows) - held_out], rows[len(rows) - held_out :]
    if n is not None:
        train = train[-n:]
    license_id, license_from = repository_license(repo)
    name = repository_name(repo)
    dropped = markdown_table(
        ["filter", "commits dropped"], [[k, v] for k, v in sorted(stats["dropped"].items())]
    )
    meta, body = card(
        pretty_name=f"SWE-RL rows from {PurePosixPath(name).name}",
        n_rows=len(train) + len(test),
        summary=f"Software-evolution rows (SWE-RL, arXiv 2502.18449) built from the git history of `{name}`: "
        f"{stats['commits']} commits read, {len(rows)} kept. The test split holds the {len(test)} most recent rows.",
        sections={
            "Source": f"Repository: `{name}`, at commit `{_git(repo, 'rev-parse', 'HEAD').strip()}`.\n\n"
            f"License of the source repository: `{license_id}` (from {license_from}). Rows quote the repository's "
            "code and commit messages, so they are under the repository's license.",
            "Fields": "`prompt` (SWE-RL's system prompt and the issue with the code context), `task` (`swe`), `issue`, "
            "`issue_source` (`issue #N` or `commit message`), `code_context` (JSON {path: pre-change content}: the "
            "edited files and the files the change imports or names), `edited_files`, `oracle_patch` (unified diff "
            "written with difflib), `answer` (the oracle change as a reference completion), `commit`, `date`, "
            "`changed_lines`.",
            "Construction": __doc__.split("\n\n", 2)[2] + "\n\n" + dropped,
            "Reward": "`task_reward` dispatches `swe` rows to `trl_ext.rewards.swe`: −1 when the completion lacks the "
            "`<think>…</think>` then `<solution>…</solution>` format or its edits do not parse or apply; otherwise "
            "the mean over edited files of `difflib.SequenceMatcher(None, predicted, oracle, autojunk=False).ratio()` "
            "between the predicted and the oracle diff hunks (`trl_ext.rewards.patch`).",
        },
        license=license_id,
        tags=("swe", "software-evolution", "swe-rl"),
    )
    return Built(DatasetDict(train=Dataset.from_list(train), test=Dataset.from_list(test)), meta, body)
