"""Reward functions with TRL's signature: code verifier, SWE-RL patch similarity, format."""

import json

import pytest

from trl_ext.rewards import (
    code_reward,
    extract_code,
    format_reward,
    make_code_reward,
    patch_similarity,
    patch_similarity_reward,
)
from trl_ext.rewards.code import answers, public_pass


def _messages(text):
    return [{"role": "assistant", "content": text}]


def test_extract_code():
    assert extract_code("text\n```python\nprint(1)\n```\nmore\n```py\nprint(2)\n```") == "print(2)\n"
    assert extract_code("print(3)") == "print(3)"
    assert extract_code("```python\nprint(4)\n") == "print(4)\n"
    assert extract_code("   \n") is None


STDIN_ROW = {
    "public_tests": [{"input": "2 3", "output": "5"}],
    "private_tests": [{"input": "-3 1", "output": "-2"}, {"input": "0 0", "output": "0"}],
    "fn_name": None,
    "time_limit_s": 2.0,
}


def _columns(rows):
    return {key: [r.get(key) for r in rows] for key in rows[0]}


def test_code_reward_all_pass_and_fraction():
    completions = [
        _messages("```python\na, b = map(int, input().split())\nprint(a + b)\n```"),
        _messages("```python\na, b = map(int, input().split())\nprint(abs(a + b))\n```"),  # fails -3 1
        _messages("I don't know"),  # not code: runs as a program and fails
        _messages(""),
        "```python\nwhile True: pass\n```",  # standard (non-conversational) format
    ]
    rows = [STDIN_ROW] * len(completions)
    assert code_reward(prompts=[None] * 5, completions=completions, **_columns(rows)) == [
        1.0,
        0.0,
        0.0,
        0.0,
        0.0,
    ]
    fraction = make_code_reward(mode="fraction")
    assert fraction(prompts=[None] * 2, completions=completions[:2], **_columns(rows[:2])) == [
        1.0,
        pytest.approx(2 / 3),
    ]
    assert public_pass([completions[1][0]["content"]], [STDIN_ROW]) == [True]
    with pytest.raises(ValueError, match="tests must be one of"):
        make_code_reward(tests="hidden")(prompts=[None], completions=completions[:1], **_columns(rows[:1]))


def test_code_reward_call_mode_with_starter_and_json_columns():
    row = {
        "fn_name": "square",
        "starter_code": "def square(x):\n",
        "public_tests": json.dumps([{"input": "[3]", "output": "9"}]),
        "private_tests": json.dumps([{"input": "[-2]", "output": "4"}]),
    }
    completions = [
        _messages("```python\n    return x * x\n```"),
        _messages("```python\ndef square(x):\n    return x + x\n```"),
    ]
    assert code_reward(prompts=[None] * 2, completions=completions, **_columns([row, row])) == [1.0, 0.0]


def test_code_answers_group_equivalent_programs():
    texts = [
        "print(sum(map(int, input().split())))",
        "a,b=map(int,input().split())\nprint(a+b)",
        "print(0)",
        "",
        "raise SystemExit(1)",
    ]
    got = answers(texts, [STDIN_ROW] * len(texts))
    assert got[0] == got[1] != got[2]
    assert got[3] is None and got[4] is not None and got[4] != got[0]


ORIGINAL = {"pkg/mod.py": "def f(x):\n    return x + 1\n\n\ndef g():\n    pass\n", "README.md": "hello\n"}
ORACLE = "\n".join(
    [
        "diff --git a/pkg/mod.py b/pkg/mod.py",
        "index 111..222 100644",
        "--- a/pkg/mod.py",
        "+++ b/pkg/mod.py",
        "@@ -1,5 +1,5 @@",
        " def f(x):",
        "-    return x + 1",
        "+    return x + 2",
        " ",
        " ",
        " def g():",
        "",
    ]
)


def test_patch_similarity():
    exact = "### pkg/mod.py\n<<<<<<< SEARCH\n    return x + 1\n=======\n    return x + 2\n>>>>>>> REPLACE\n"
    assert patch_similarity(exact, ORIGINAL, ORACLE) == pytest.approx(1.0)
    close = exact.replace("x + 2", "x + 3")
    assert 0.5 < patch_similarity(close, ORIGINAL, ORACLE) < 1.0
    extra = exact + "### README.md\n<<<<<<< SEARCH\nhello\n=======\nbye\n>>>>>>> REPLACE\n"
    assert patch_similarity(extra, ORIGINAL, ORACLE) == pytest.approx(0.5)  # a file the oracle does not touch
    assert patch_similarity("no edits here", ORIGINAL, ORACLE) == -1.0
    assert patch_similarity(exact.replace("return x + 1", "return y"), ORIGINAL, ORACLE) == -1.0
    assert patch_similarity(exact.replace("pkg/mod.py", "pkg/other.py"), ORIGINAL, ORACLE) == -1.0
    columns = {"code_context": [json.dumps(ORIGINAL)], "oracle_patch": [ORACLE]}
    assert patch_similarity_reward(prompts=[None], completions=[_messages(exact)], **columns) == [
        pytest.approx(1.0)
    ]


def test_format_reward():
    completions = [
        "```python\nx=1\n```",
        "no code",
        "```py\na\n```\n```py\nb\n```",
        _messages("```\nok\n```"),
    ]
    assert format_reward(prompts=[None] * 4, completions=completions) == [1.0, 0.0, 0.0, 1.0]
