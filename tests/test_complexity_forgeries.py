"""Forgeries of the complexity measurement (issue 22 item 6): work hidden from the clock in another thread or
process, and outputs that only pretend to equal the reference's. Each must give a clear ComplexityError from
`infer` and score 0 in the `generate` reward, while the honest solution keeps scoring 1."""

import pytest

from hub_datasets import complexity as dataset
from trl_ext.complexity import ComplexityError, Settings, infer
from trl_ext.rewards import complexity as verifier
from trl_ext.rewards import task_reward

QUICK = Settings(budget_s=1.0, timeout_s=10.0)
QUADRATIC = "    n = len(a)\n    return sum(1 for i in range(n) for j in range(n) if a[i] < a[j])\n"

# the quadratic loop in a helper thread: the calling thread's CPU clock sees only the join (issue: read as O(n))
IN_A_THREAD = (
    "import threading\ndef f(a):\n    box = []\n    def work():\n        n = len(a)\n"
    "        box.append(sum(1 for i in range(n) for j in range(n) if a[i] < a[j]))\n"
    "    t = threading.Thread(target=work)\n    t.start()\n    t.join()\n    return box[0]\n"
)
# the same in a bare _thread, which the threading module does not list
IN_A_BARE_THREAD = (
    "import _thread\ndef f(a):\n    done = _thread.allocate_lock()\n    done.acquire()\n    box = []\n"
    "    def work():\n        n = len(a)\n        box.append(sum(1 for i in range(n) for j in range(n) if a[i] < a[j]))\n"
    "        done.release()\n    _thread.start_new_thread(work, ())\n    done.acquire()\n    return box[0]\n"
)
# in a forked child, the answer back through a pipe
IN_A_CHILD = (
    "import os\ndef f(a):\n    r, w = os.pipe()\n    if os.fork() == 0:\n        n = len(a)\n"
    "        os.write(w, str(sum(1 for i in range(n) for j in range(n) if a[i] < a[j])).encode())\n"
    "        os._exit(0)\n    os.close(w)\n    out = os.read(r, 64)\n    os.wait()\n    return int(out)\n"
)


@pytest.mark.parametrize(
    "code", [IN_A_THREAD, IN_A_BARE_THREAD, IN_A_CHILD], ids=["thread", "_thread", "fork"]
)
def test_work_in_another_thread_or_process_is_refused(code):
    with pytest.raises(ComplexityError, match="threads or processes"):
        infer(code, "f", "([3, 1, 2, 5],)", settings=QUICK)


def test_quadratic_in_the_measured_thread_still_reads_quadratic():
    assert infer("def f(a):\n" + QUADRATIC, "f", "([3, 1, 2, 5],)", settings=QUICK).time == "O(n^2)"


ALWAYS_EQUAL = (
    "class Same:\n    def __eq__(self, other):\n        return True\n    __hash__ = object.__hash__\n"
    "def f(a):\n    if len(a) > 8:\n        return Same()\n" + QUADRATIC
)


def test_objects_that_only_compare_equal_are_not_outputs():
    reference = "def f(a):\n" + QUADRATIC
    with pytest.raises(ComplexityError, match="not plain data"):
        infer(ALWAYS_EQUAL, "f", "([3, 1, 2, 5],)", settings=QUICK, reference=reference)
    # type-strict: True is not 1, (1, 2) is not [1, 2], an int subclass is not an int
    for wrong in ("return True", "return (1, 2)", "return type('I', (int,), {})(1)"):
        with pytest.raises(ComplexityError, match="answers differently|not plain data"):
            infer(
                f"def f(a):\n    {wrong}\n",
                "f",
                "([3, 1, 2],)",
                settings=QUICK,
                reference=(
                    "def f(a):\n    return 1\n" if "(1, 2)" not in wrong else "def f(a):\n    return [1, 2]\n"
                ),
            )


def _generate_row():
    problem = next(p for p in dataset.PROBLEMS if p["id"] == "max_subarray")
    rows = dataset._rows(problem, dataset._tests(problem), ["O(n)"])
    return problem, next(r for r in rows if r["subtask"] == "generate")


def test_generate_reward_refuses_both_forgeries(monkeypatch):
    monkeypatch.setattr(verifier, "INFERENCE_BUDGET_S", 1.5)
    monkeypatch.setattr(verifier, "INFERENCE_TIMEOUT_S", 10.0)
    problem, row = _generate_row()
    quadratic = problem["solutions"]["O(n^2)"].split("\n", 1)[1]  # the body of the quadratic solution
    # linear work in the calling thread (what its CPU clock saw), the quadratic answer from a helper thread
    threaded = (
        "import threading\ndef max_sum(a):\n    box = []\n    t = threading.Thread(target=lambda: box.append(_slow(a)))\n"
        "    t.start()\n    for _ in range(30):\n        _linear(a)\n    t.join()\n    return box[0]\n"
        "def _slow(a):\n" + quadratic + problem["solutions"]["O(n)"].replace("def max_sum", "def _linear")
    )
    always_equal = (
        "class Same:\n    def __eq__(self, other):\n        return True\n    def __ne__(self, other):\n"
        "        return False\n    __hash__ = object.__hash__\n"
        "def max_sum(a):\n    if len(a) > 5:  # beyond the small tests: one linear pass, then the forged answer\n"
        "        sum(x for x in a)\n        return Same()\n"
        + problem["solutions"]["O(n^3)"].split("\n", 1)[1]
    )
    fence = "```python\n{}```"
    completions = [
        fence.format(problem["solutions"]["O(n)"]),
        fence.format(threaded),
        fence.format(always_equal),
    ]
    columns = {key: [row.get(key)] * len(completions) for key in row}
    got = task_reward(prompts=[row["prompt"]] * len(completions), completions=completions, **columns)
    assert got == [1.0, 0.0, 0.0], got
