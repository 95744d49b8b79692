"""No verifier or feedback function raises on any completion text (issue 22 item 4).

First the crashes found by hand, each as a test; then property-based fuzzing (`hypothesis`, derandomized, no
example database) of every verifier, answer and feedback function reachable from `task_reward`, the RLEF
checks, the format and patch rewards, with hostile text: deep nesting, huge tokens, lone surrogates, NULs,
control characters, broken fences and the markers each parser looks for. The pure-Python ones get many
examples; the ones that run the sandbox get a few batches (one sandbox batch per example).
"""

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from trl_ext.episodes import has_valid_answer, public_verdicts
from trl_ext.rewards import complexity as complexity_verifier
from trl_ext.rewards import (
    format_reward,
    kolmogorov,
    patch_similarity,
    pbe,
    pbe_similarity_reward,
    task_answers,
    task_reward,
)
from trl_ext.rewards.common import Score, extract_code

PBE_ROW = {"task": "pbe", "inputs": ["a1", "b1"], "outputs": ["ax", "bx"]}
KOLMOGOROV_ROW = {"task": "kolmogorov", "sequence": [1, 2, 3]}
CODE_ROW = {
    "task": "code",
    "public_tests": [{"input": "1", "output": "2"}],
    "private_tests": [{"input": "2", "output": "3"}],
    "fn_name": None,
    "time_limit_s": 2.0,
}
PUZZLE_ROW = {"task": "puzzle", "sat": "def sat(x: int):\n    return x == 7\n"}
PREDICT_ROW = {"task": "complexity", "subtask": "predict", "answer": "O(n log n)"}
DEEP_PBE_RULE = "replace(" + "-" * 3000 + "'1', \"x\")"


def reward(text, row):
    columns = {key: [value] for key, value in row.items() if key != "task"}
    return task_reward(prompts=[None], completions=[text], task=[row["task"]], **columns)[0]


# ------------------------------------------------------------------------------ the crashes found by hand


@pytest.mark.parametrize(
    "text",
    [
        "output = [1, 2, 3]\nimport sys; print(5); sys.exit(0)",
        "print('[' * 5000)\nimport sys; sys.exit(0)",
        "print('[1.0, 2.0, 3.0]')\nimport sys; sys.exit(0)",  # equal as numbers, but no list of ints
        "print('[' + '9' * 5000 + ']')\nimport sys; sys.exit(0)",  # past Python's int digit limit
        "output = [1, 2, 3]  # \ud800",
    ],
)
def test_kolmogorov_hostile_programs_score_and_feed_back_without_raising(text):
    value = reward(text, KOLMOGOROV_ROW)
    if "\ud800" in text:  # the surrogate is replaced, the program still runs and is correct
        assert value > 0.5
    else:
        assert value == 0.0 and isinstance(value, Score) and value.reason
        assert kolmogorov.feedback(text, KOLMOGOROV_ROW).startswith("Your program did not run")


def test_pbe_deeply_nested_rule_is_no_rule():
    assert reward(DEEP_PBE_RULE, PBE_ROW) == 0.0
    assert pbe.similarity([DEEP_PBE_RULE], [PBE_ROW]) == [0.0]
    assert pbe.feedback(DEEP_PBE_RULE, PBE_ROW).startswith("No rule could be parsed")
    assert reward(DEEP_PBE_RULE + "\nreplace('1', 'x')", PBE_ROW) == 1.0  # the next line still counts


def test_lone_surrogates_do_not_fail_the_batch():
    texts = ["print(int(input()) + 1)  # \ud800", "print(int(input()) + 1)", "\udfff"]
    columns = {key: [value] * 3 for key, value in CODE_ROW.items() if key != "task"}
    assert task_reward(prompts=[None] * 3, completions=texts, task="code", **columns) == [1.0, 1.0, 0.0]
    assert reward("```python\noutput = [1, 2, 3]\n```\n\ud800", KOLMOGOROV_ROW) > 0.5


@pytest.mark.parametrize(
    "program",
    ["x = " + "-" * 100_000 + "1", "x = " + "1+" * 100_000 + "1", "x = " + "a." * 100_000 + "b"],
    ids=["unary", "binary", "attribute"],
)
def test_has_valid_answer_on_deeply_nested_code(program):
    assert has_valid_answer(program, {"task": "code"}) is False
    assert has_valid_answer(program, {"task": "kolmogorov"}) is False


# ----------------------------------------------------------------------------------------------- fuzzing

PIECES = [
    "```",
    "```python\n",
    "```\n",
    "\n",
    "\r\n",
    " ",
    "\t",
    "\x00",
    "\x01\x1b[2J\x7f",
    "\u2028\u0085\ufeff",
    "\ud800",
    "\udfff",
    "\U0001f600",
    "replace(",
    ")",
    "'",
    '"',
    ",",
    ">",
    "a>b",
    "a1>ax",
    "replace('1', 'x')",
    "O(",
    "O(n log n)",
    "### a.py\n",
    "<<<<<<< SEARCH\n",
    "=======\n",
    ">>>>>>> REPLACE",
    "output = ",
    "[1, 2, 3]",
    "print(",
    "import sys; sys.exit(0)\n",
    "def f(",
    "x = ",
    "7",
    "\\",
]
_nesting = st.builds(
    lambda ch, n: ch * n,
    st.sampled_from(list("([{-+~`'\"\\<>") + ["O(", "a.", "not "]),
    st.integers(2_000, 50_000),
)
_huge_token = st.builds(
    lambda ch, n: ch * n, st.sampled_from(list("9a `\n>,") + ["\x00"]), st.integers(1, 60_000)
)
_any_text = st.text(st.characters(exclude_categories=()), max_size=40)  # surrogates and controls included
HOSTILE = st.lists(st.one_of(st.sampled_from(PIECES), _nesting, _huge_token, _any_text), max_size=10).map(
    "".join
)

PURE = settings(
    max_examples=150, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck)
)
SANDBOX = settings(
    max_examples=6, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck)
)


@PURE
@given(HOSTILE)
@example(DEEP_PBE_RULE.replace("-" * 3000, "-" * 30_000))  # hypothesis raises the recursion limit: go deeper
@example("a>" + "b" * 15_000 + "\n" + "\n".join(f"{c}>{c * 40}" for c in "abx"))  # string growth
def test_fuzz_pbe(text):
    rows = [PBE_ROW, {**PBE_ROW, "held_out_inputs": ["c1"], "held_out_outputs": ["cx"]}]
    for row in rows:
        assert pbe.score([text], [row])[0] in (0.0, 1.0)
        assert 0.0 <= pbe.similarity([text], [row])[0] <= 1.0
        pbe.answers([text], [row])
        feedback = pbe.feedback(text, row)
        assert feedback is None or isinstance(feedback, str)
        assert isinstance(has_valid_answer(text, row), bool)
    value = reward(text, PBE_ROW)
    assert value == 1.0 or (value == 0.0 and value.reason)
    assert (
        0.0
        <= pbe_similarity_reward(None, [text], inputs=[PBE_ROW["inputs"]], outputs=[PBE_ROW["outputs"]])[0]
    )


@PURE
@given(HOSTILE)
@example("O(" + " " * 50_000 + ")")
@example("O(" * 20_000)
def test_fuzz_pure_parsers(text):
    value = complexity_verifier.score([text], [PREDICT_ROW])[0]
    assert value == 1.0 or (value == 0.0 and value.reason)
    complexity_verifier.answers([text], [PREDICT_ROW])
    value = format_reward(None, [text])[0]
    assert value == 1.0 or (value == 0.0 and value.reason)
    value = patch_similarity(text, {"a.py": "x = 1\n"}, "+++ b/a.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n")
    assert 0.0 <= value <= 1.0 or (value == -1.0 and value.reason)
    code = extract_code(text)
    assert code is None or code.encode("utf-8")  # always sendable to the sandbox
    for task in ("code", "kolmogorov"):
        assert isinstance(
            has_valid_answer(text, {"task": task, **CODE_ROW} if task == "code" else KOLMOGOROV_ROW), bool
        )
    output = kolmogorov.parse_output(text)
    assert output is None or all(type(v) is int for v in output)


@SANDBOX
@given(st.lists(HOSTILE, min_size=1, max_size=8))
def test_fuzz_kolmogorov(texts):
    rows = [KOLMOGOROV_ROW] * len(texts)
    columns = {"sequence": [r["sequence"] for r in rows]}
    values = task_reward(prompts=[None] * len(texts), completions=texts, task="kolmogorov", **columns)
    assert all(v == 0.0 or 0.5 < v < 1.0 for v in values)
    assert all(v.reason for v in values if v == 0.0)
    task_answers(texts, task="kolmogorov", **columns)
    assert all(m is None or isinstance(m, str) for m in kolmogorov.feedbacks(texts, rows))
    assert all(isinstance(v.passed, bool) for v in public_verdicts(texts, rows))


@SANDBOX
@given(st.lists(HOSTILE, min_size=1, max_size=8))
def test_fuzz_code_and_rlef_feedback(texts):
    columns = {key: [value] * len(texts) for key, value in CODE_ROW.items() if key != "task"}
    values = task_reward(prompts=[None] * len(texts), completions=texts, task="code", **columns)
    assert all(v in (0.0, 1.0) for v in values)
    assert all(v.reason for v in values if v == 0.0)
    task_answers(texts, task="code", **columns)
    verdicts = public_verdicts(texts, [CODE_ROW] * len(texts))
    assert all(isinstance(v.passed, bool) and isinstance(v.message, str) for v in verdicts)


@SANDBOX
@given(st.lists(HOSTILE, min_size=1, max_size=8))
def test_fuzz_puzzle(texts):
    values = task_reward(
        prompts=[None] * len(texts), completions=texts, task="puzzle", sat=[PUZZLE_ROW["sat"]] * len(texts)
    )
    assert all(v == 1.0 or (v == 0.0 and v.reason) for v in values)
    task_answers(texts, task="puzzle", sat=[PUZZLE_ROW["sat"]] * len(texts))


@settings(
    max_examples=2, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck)
)
@given(st.lists(HOSTILE, min_size=1, max_size=4))
def test_fuzz_complexity_generate(texts):
    row = {
        "task": "complexity",
        "subtask": "generate",
        "fn_name": "f",
        "public_tests": [{"input": "[[1, 2]]", "output": "2"}],
        "private_tests": [],
        "example": {"xs": [1, 2]},
        "required_complexity": "O(n)",
        "answer": "def f(xs):\n    return len(xs)\n",
    }
    assert complexity_verifier.score(texts, [row] * len(texts)) == [0.0] * len(texts)
