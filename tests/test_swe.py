"""The SWE-RL dataset (`hub_datasets.swe`) from a git repository this test creates, and its reward."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from hub_datasets import swe
from trl_ext.rewards import task_reward
from trl_ext.rewards.patch import split_patch

CALC = "from pkg.util import clamp\n\n\ndef add(a, b):\n    return a - b\n\n\ndef scale(x):\n    return clamp(x * 2)\n"
UTIL = "def clamp(x):\n    return max(0, x)\n"
MIT = "MIT License\n\nCopyright (c) 2026 Someone\n\nPermission is hereby granted, free of charge, ...\n"


def _git(repo, *args, author="Dev <dev@example.com>"):
    name, email = author[:-1].split(" <")
    env = {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
        "GIT_AUTHOR_DATE": "2026-01-01T00:00:00",
        "GIT_COMMITTER_DATE": "2026-01-01T00:00:00",
        "PATH": os.environ["PATH"],
        "HOME": str(repo),  # no user or system git config changes the commits
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout


def _commit(repo, files: dict, message: str, **kw) -> str:
    for path, content in files.items():
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content) if isinstance(content, bytes) else target.write_text(content)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message, **kw)
    return _git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("project")
    _git(repo, "init", "-q", "-b", "main")
    _commit(
        repo,
        {
            "pkg/__init__.py": "",
            "pkg/calc.py": CALC,
            "pkg/util.py": UTIL,
            "tests/test_calc.py": "def test_add():\n    pass\n",
            "LICENSE": MIT,
            "logo.png": b"\x89PNG\0\0\x01",
            "big.txt": "".join(f"line {i}\n" for i in range(400)),
        },
        "Initial import",
    )
    fix = _commit(repo, {"pkg/calc.py": CALC.replace("a - b", "a + b")}, "Fix add (closes #1)")
    _commit(repo, {"tests/test_calc.py": "def test_add():\n    assert True\n"}, "Strengthen the tests")
    _commit(repo, {"logo.png": b"\x89PNG\0\0\x02"}, "New logo")
    _commit(repo, {"big.txt": "".join(f"row {i}\n" for i in range(400))}, "Rewrite big.txt")
    _commit(
        repo, {"pkg/__init__.py": '__version__ = "1"\n'}, "Bump", author="dependabot[bot] <bot@example.com>"
    )
    util2 = UTIL.replace("clamp(x)", "clamp(x, low=0)").replace("max(0, x)", "max(low, x)")
    both = _commit(
        repo,
        {"pkg/calc.py": CALC.replace("a - b", "a + b").replace("x * 2", "x * 3"), "pkg/util.py": util2},
        "Scale by 3; clamp takes a lower bound, see util.py",
    )
    clamp = _commit(
        repo, {"pkg/util.py": util2.replace("max(low, x)", "max(low, min(x, 100))")}, "Clamp at 100"
    )
    _git(repo, "checkout", "-q", "-b", "side")
    _commit(repo, {"README.md": "# project\n"}, "Add a README")
    _git(repo, "checkout", "-q", "main")
    _git(repo, "merge", "-q", "--no-ff", "-m", "Merge side", "side")
    undo = _commit(repo, {"pkg/util.py": util2}, "Undo the clamp at 100")
    _commit(
        repo, {"pkg/util.py": util2.replace("max(low, x)", "max(low, min(x, 100))")}, "Clamp at 100 again"
    )
    issues = repo.parent / "issues.jsonl"
    issues.write_text(
        json.dumps({"number": 1, "title": "add() subtracts", "body": "add(2, 3) returns -1."}) + "\n"
    )
    return {"path": repo, "fix": fix, "both": both, "clamp": clamp, "undo": undo, "issues": issues}


@pytest.fixture(scope="module")
def collected(repo):
    return swe.collect(repo["path"], swe.load_issues(repo["issues"]))


def _row(collected, sha):
    return next(r for r in collected[0] if r["commit"] == sha)


def _reward(row, text):
    columns = {k: [v] for k, v in row.items() if k != "prompt"}
    return task_reward(
        prompts=[row["prompt"]], completions=[[{"role": "assistant", "content": text}]], **columns
    )[0]


def test_filters_and_dedup(repo, collected):
    rows, stats = collected
    assert [r["commit"] for r in rows] == [repo["fix"], repo["both"], repo["clamp"], repo["undo"]]
    # The README commit adds a file; the last commit repeats `clamp`'s change exactly: a near-duplicate.
    assert stats["dropped"] == {
        "root commit": 1,
        "tests only": 1,
        "binary only": 1,
        "oversized": 1,
        "bot": 1,
        "merge": 1,
        "adds, deletes or renames a file": 1,
        "near-duplicate": 1,
    }


def test_row_issue_context_and_prompt(repo, collected):
    row = _row(collected, repo["fix"])
    assert row["task"] == "swe"
    assert (row["issue"], row["issue_source"]) == ("add() subtracts\n\nadd(2, 3) returns -1.", "issue #1")
    context = json.loads(row["code_context"])
    assert context == {"pkg/calc.py": CALC, "pkg/util.py": UTIL}  # edited + imported, pre-change
    assert row["edited_files"] == ["pkg/calc.py"]
    system, user = row["prompt"]
    assert "<think>" in system["content"] and "<solution>" in system["content"]
    assert "add() subtracts" in user["content"] and "### pkg/util.py" in user["content"]
    assert "<<<<<<< SEARCH" in user["content"]
    # Without an issues file, the commit message is the issue.
    plain = swe.collect(repo["path"])[0][0]
    assert (plain["issue"], plain["issue_source"]) == ("Fix add (closes #1)", "commit message")
    # A file the message names joins the context (util.py is also imported; here it is edited too).
    assert "pkg/util.py" in json.loads(_row(collected, repo["both"])["code_context"])


def test_reward_oracle_perturbed_malformed(repo, collected):
    row = _row(collected, repo["fix"])
    assert _reward(row, row["answer"]) == 1.0
    perturbed = row["answer"].replace("return a + b", "return a + b + 0")
    assert 0 < _reward(row, perturbed) < 1
    assert _reward(row, row["answer"].replace("<think>", "")) == -1.0  # no reasoning section
    assert (
        _reward(row, row["answer"].replace("return a - b", "return a * b")) == -1.0
    )  # SEARCH not in the file
    assert _reward(row, "<think>hm</think>\n<solution>no edits</solution>") == -1.0
    both = _row(
        collected, repo["both"]
    )  # two files: each file's hunks are compared with its own oracle hunks
    assert set(split_patch(both["oracle_patch"])) == {"pkg/calc.py", "pkg/util.py"}
    assert _reward(both, both["answer"]) == 1.0
    one_file = both["answer"].split("```python\n### pkg/util.py")[0] + "</solution>"
    assert _reward(both, one_file) == pytest.approx(0.5)


def test_build_through_cli(repo, tmp_path):
    from datasets import load_dataset

    from trl_ext import cli, hub

    target = tmp_path / "swe"
    cli.main(
        [
            "build-dataset",
            "swe",
            "--source",
            str(repo["path"]),
            "--issues",
            str(repo["issues"]),
            "--push-to-hub",
            str(target),
        ]
    )
    test = load_dataset(str(target), "default", split="test")
    train = load_dataset(str(target), "default", split="train")
    assert (len(train), len(test)) == (3, 1) and test[0]["commit"] == repo[
        "undo"
    ]  # the newest row is held out
    meta, body = hub.split_card((target / "README.md").read_text())
    assert meta["license"] == "mit"
    assert str(repo["path"].name) in body and "`LICENSE`" in body
    _git(repo["path"], "remote", "add", "origin", "https://user:secret@example.com/org/project.git")
    assert (
        swe.repository_name(repo["path"]) == "https://example.com/org/project.git"
    )  # no credentials on a card
    with pytest.raises(ValueError, match="not a git repository"):
        swe.build(str(tmp_path))
    with pytest.raises(ValueError, match="--issues is for swe"):
        __import__("hub_datasets").build("pbe", "lite", issues=str(repo["issues"]))


def test_harness_reports_mean_patch_similarity(repo, collected):
    from datasets import Dataset

    from trl_ext.eval.harness import score

    rows = [_row(collected, repo["fix"]), _row(collected, repo["both"])]
    half = rows[1]["answer"].split("```python\n### pkg/util.py")[0] + "</solution>"  # one of two files: 0.5
    metrics, stderr, _ = score(
        Dataset.from_list(rows), [[rows[0]["answer"], "no format"], [half, half]], ks=[1]
    )
    assert metrics["patch_similarity"] == pytest.approx((0.5 + 0.5) / 2)  # the format error counts 0, not −1
    assert metrics["pass@1"] == pytest.approx(0.25) and stderr["patch_similarity"] == pytest.approx(0.0)
