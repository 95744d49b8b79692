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


# ----------------------------------------------------------------- Kolmogorov: graded by compression


def test_kolmogorov_reward_grades_compression_against_gzip():
    from trl_ext.rewards import kolmogorov, task_reward

    sequence = list(range(0, 300, 3))
    row = {"sequence": sequence}
    literal = f"```python\noutput = {sequence}\n```"
    program = "```python\noutput = rng(0, 300, 3)\n```"
    wrong = "```python\noutput = rng(0, 300, 4)\n```"
    rewards = task_reward(None, [literal, program, wrong], "kolmogorov", sequence=[sequence] * 3)
    g = kolmogorov.gzip_bits(sequence)
    for text, value in zip([literal, program], rewards):
        b = 8 * len(text.removeprefix("```python\n").removesuffix("\n```").encode())
        assert value == pytest.approx(1 - b / (2 * (b + g)))  # the scale the README and the card state
    assert 0.5 < rewards[0] < 0.75 < rewards[1] < 1.0 and rewards[2] == 0.0  # the literal is worse than gzip
    assert "not the sequence" in rewards[2].reason
    # the KoLMogorov-Test's corpus metrics: accuracy, and bits (program if correct, else gzip) over raw bits
    raw = 8 * len(kolmogorov.sequence_text(sequence))
    texts = [program, wrong]
    assert kolmogorov.accuracy(texts, [row] * 2) == 0.5
    expected = (8 * len("output = rng(0, 300, 3)") + g) / (2 * raw)
    assert kolmogorov.compression_rate(texts, [row] * 2) == pytest.approx(expected)


def test_kolmogorov_output_parser_is_strict():
    from trl_ext.rewards.kolmogorov import parse_output

    assert parse_output("noise\n[1, -2, 3]\n") == (1, -2, 3) and parse_output("[]") == ()
    for bad in ["5", "[1.0, 2.0]", "[true]", "[[1]]", '["1"]', "[1, 2,]", "[" * 5000, "[" + "9" * 5000 + "]"]:
        assert parse_output(bad) is None


# ---------------------------------------------- item 5: the worst cases of scripts/bench_verifiers.py


def test_worst_case_completions_get_the_right_verdict():
    """The verdicts on the cases scripts/bench_verifiers.py times (their time is the script's business)."""
    from trl_ext.episodes import has_valid_answer
    from trl_ext.rewards import complexity, pbe, puzzle
    from trl_ext.rewards.kolmogorov import parse_output

    row = {"inputs": ["a1" * 4] * 8, "outputs": ["ax" * 4] * 8}
    line = "replace(" + ",)" * 4_000 + "x"
    assert pbe.score([line], [row]) == [0.0] and pbe.score([line + "\n1>x"], [row]) == [1.0]
    growth = "a>" + "a" * 2_400 + "\na>" + "a" * 4_000  # 8 inputs x 38M chars before the length check
    verdict = pbe.score([growth], [row])[0]
    assert verdict == 0.0 and "past 10000 characters" in verdict.reason
    assert pbe.feedback(growth, row).startswith("Your rules grow input")
    assert pbe.similarity([growth], [row]) == [0.0]
    assert extract_code("`" * 40_000) == "`" * 39_997 and puzzle.parse_answer("`" * 40_000) is None
    assert extract_code("`" * 40_000 + "\nprint(1)\n```") == "print(1)\n"
    assert complexity.parse_prediction("O(" + " " * 50_000 + "n)") is None  # past the label cap
    assert complexity.parse_prediction("it is O(" + " " * 100 + "n  *   log n)") == "O(n log n)"
    text = "### a.py\n<<<<<<< SEARCH\n" * 10_000
    assert patch_similarity(text, {"a.py": "x = 1\n"}, "") == -1.0
    assert (
        parse_output("[" * 100_000) is None
        and parse_output("[" + ", ".join(["7"] * 50_000) + "]") == (7,) * 50_000
    )
    assert has_valid_answer("x = " + "-" * 100_000 + "1", {"task": "code"}) is False
