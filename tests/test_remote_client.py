"""The execution backends: choosing one, the sandbox-fusion client against real `trl-ext sandbox serve` replicas
(ours: whole jobs judged server-side; `--api sandbox-fusion`: a stock deployment, judged client-side), the
threat-model refusal, failover when a replica dies mid-batch, `sandbox_error` → an unscorable reward, and TRL's
async reward path. Servers run on 127.0.0.1 at free ports and are stopped by the tests."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import httpx
import pytest
from conftest import cpu_grpo_args
from datasets import Dataset
from trainer_helpers import ROOT, toy_dataset

from trl_ext.eval.harness import score as harness_score
from trl_ext.execution import backends, run_batch, run_tests, run_tests_batch
from trl_ext.execution.remote import (
    ALLOW_TEST_CODE_ENV,
    RemoteSettings,
    SandboxFusionBackend,
    UnsafeRemoteJobError,
)
from trl_ext.execution.server import spawn, stop
from trl_ext.rewards import atask_reward, task_reward
from trl_ext.rewards.code import score as code_score
from trl_ext.trainers.rlef import make_private_tests_reward

JOBS = [  # stdin mode, call mode (a tuple inside), HumanEval-style test_code, and failures of each kind
    {
        "code": "print(int(input()) * 2)",
        "tests": [{"input": "2", "output": "4"}, {"input": "5", "output": "10"}],
    },
    {"code": "print(int(input()) * 3)", "tests": [{"input": "2", "output": "4"}]},
    {
        "code": "def f(x):\n    return (x, [x])",
        "tests": [{"input": "[1]", "output": "[1, [1]]"}],
        "fn_name": "f",
    },
    {"code": "def f(x):\n    return True", "tests": [{"input": "[1]", "output": "1"}], "fn_name": "f"},
    {"code": "def f(x):\n    raise KeyError(x)", "tests": [{"input": "[1]", "output": "1"}], "fn_name": "f"},
    {"code": "while True: pass", "tests": [{"input": "", "output": ""}], "timeout": 0.5},
]
TEST_CODE_JOBS = [
    {
        "code": "def inc(x):\n    return x + 1",
        "test_code": "def check(c):\n    assert c(1) == 2\n",
        "fn_name": "inc",
    },
    {
        "code": "def inc(x):\n    return x",
        "test_code": "def check(c):\n    assert c(1) == 2\n",
        "fn_name": "inc",
    },
]
# A candidate that ends its own process with status 0 before any check runs: the verdict forger of a plain
# /run_code, where the check shares its process.
FORGER = {
    "code": "def inc(x):\n    return 0\nimport os\nos._exit(0)",
    "test_code": "def check(c):\n    assert c(1) == 2\n",
    "fn_name": "inc",
}


def _verdicts(results):
    return [[t.status for t in r.results] for r in results]


@pytest.fixture(scope="module")
def servers():
    """One trl-ext replica and one that offers only SandboxFusion's API (as a third-party deployment does)."""
    ours, ours_url = spawn("--workers", "1")
    stock, stock_url = spawn("--workers", "1", "--api", "sandbox-fusion")
    try:
        yield ours_url, stock_url
    finally:
        stop(ours)
        stop(stock)


@pytest.fixture
def execution():
    """Set the process-wide backend for one test, then back to local."""
    yield backends.configure
    backends.configure(None)
    backends.close()


@pytest.fixture(scope="module")
def local_verdicts():
    return _verdicts(run_tests_batch(JOBS + TEST_CODE_JOBS + [FORGER]))


def test_specs_and_the_config_field(monkeypatch):
    assert backends.parse_spec("local") == backends.ExecutionSpec()
    spec = backends.parse_spec("sandbox-fusion=http://a:1/, https://b:2")
    assert spec.urls == ("http://a:1", "https://b:2") and str(spec) == "sandbox-fusion=http://a:1,https://b:2"
    assert backends.parse_spec("ray=10.0.0.1:6379").address == "10.0.0.1:6379"
    assert backends.parse_spec("ray").address is None
    for bad in ("sandbox-fusion=", "sandbox-fusion=a:1", "gpu", "local=x"):
        with pytest.raises(ValueError, match="sandbox-fusion"):
            backends.parse_spec(bad)
    monkeypatch.setenv(backends.ENV, "sandbox-fusion=http://127.0.0.1:9")
    assert backends.current_spec().kind == "sandbox-fusion"
    from trl_ext import PassAtKConfig

    try:
        args = cpu_grpo_args("/tmp/unused", execution="ray=127.0.0.1:1")
        assert PassAtKConfig(**args).execution == "ray=127.0.0.1:1"
        assert str(backends.current_spec()) == "ray=127.0.0.1:1"  # the config field wins over the environment
        with pytest.raises(ValueError, match="unknown execution backend"):
            PassAtKConfig(**cpu_grpo_args("/tmp/unused", execution="gpu"))
    finally:
        backends.configure(None)


def test_a_recipe_line_chooses_the_backend(tmp_path):
    from trl_ext.train import make_parser

    recipe = tmp_path / "recipe.yaml"
    base = (ROOT / "recipes/passk/cpu-tiny.yaml").read_text()
    recipe.write_text(f"{base}\nexecution: sandbox-fusion=http://127.0.0.1:9\noutput_dir: {tmp_path}\n")
    try:
        _, training_args, _ = make_parser("passk").parse_args_and_config(args=["--config", str(recipe)])
        assert training_args.execution == "sandbox-fusion=http://127.0.0.1:9"
        assert backends.current_spec().urls == ("http://127.0.0.1:9",)
    finally:
        backends.configure(None)


def test_trl_ext_replica_judges_like_the_local_pool(servers, execution, local_verdicts):
    execution(f"sandbox-fusion={servers[0]}")
    remote = run_tests_batch(JOBS + TEST_CODE_JOBS + [FORGER])
    assert _verdicts(remote) == local_verdicts
    assert local_verdicts[-1] != ["ok"]  # the forger fails where the check runs apart from the candidate
    assert remote[2].results[0].got == "[1, [1]]"
    assert run_tests("print(input())", [{"input": "x", "output": "x"}]).passed  # the single-job form too
    assert [
        r.stdout for r in run_batch([{"code": "print(7)"}, {"code": "print(input())", "stdin": "z"}])
    ] == [
        "7\n",
        "z\n",
    ]


def test_stock_sandbox_fusion_judges_client_side_and_refuses_forgeable_modes(
    servers, execution, local_verdicts, monkeypatch
):
    execution(f"sandbox-fusion={servers[1]}")
    assert _verdicts(run_tests_batch(JOBS)) == local_verdicts[: len(JOBS)]
    assert run_batch([{"code": "print(input())", "stdin": "q"}])[0].stdout == "q\n"
    with pytest.raises(UnsafeRemoteJobError, match=ALLOW_TEST_CODE_ENV):
        run_tests_batch(TEST_CODE_JOBS)
    # Accepting the risk named by the flag: HumanEval's checks run, and the forger now passes. That is the risk.
    backend = SandboxFusionBackend([servers[1]])
    backend.settings.allow_test_code_in_candidate_process = True
    try:
        assert _verdicts(backend.run_tests_batch(TEST_CODE_JOBS + [FORGER])) == [
            ["ok"],
            ["wrong_answer"],
            ["ok"],
        ]
    finally:
        backend.close()


def test_a_replica_killed_mid_batch_loses_no_job(execution):
    first, first_url = spawn("--workers", "1")
    second, second_url = spawn("--workers", "1")
    try:
        execution(f"sandbox-fusion={first_url},{second_url}")
        jobs = [
            {
                "code": "import time\ntime.sleep(0.05)\nprint(int(input()) + 1)",
                "tests": [{"input": str(i), "output": str(i + 1 if i % 5 else i)}],  # every 5th expects wrong
            }
            for i in range(30)
        ]
        killer = threading.Timer(0.5, first.kill)
        killer.start()
        start = time.monotonic()
        results = run_tests_batch(jobs)
        killer.join()
        assert first.poll() is not None, "the replica was not killed during the batch"
        assert time.monotonic() - start > 0.5
        assert [r.passed for r in results] == [bool(i % 5) for i in range(30)]
        assert all(r.status in ("ok", "wrong_answer") for r in results)
    finally:
        stop(first)
        stop(second)


def _served(url: str) -> int:
    return httpx.get(f"{url}/health", timeout=10).json()["served"]


def test_a_hung_replica_times_out_and_is_used_again_once_it_recovers():
    jobs = [
        {"code": "print(input())", "tests": [{"input": str(i), "output": str(i)}], "timeout": 1.0}
        for i in range(12)
    ]
    (hung, hung_url), (alive, alive_url) = spawn("--workers", "1"), spawn("--workers", "1")
    settings = RemoteSettings(request_timeout_s=1.0, breaker_cooldown_s=1.0, backoff_s=0.05)
    backend = SandboxFusionBackend([hung_url, alive_url], settings)
    try:
        backend.run_tests_batch(jobs[:8])  # two chunks of 4: one to each (least-loaded)
        assert _served(hung_url) > 0 and _served(alive_url) > 0  # both used while both answer
        os.kill(hung.pid, signal.SIGSTOP)  # accepts connections (the kernel does) but never answers
        served = _served(alive_url)
        results = backend.run_tests_batch(jobs)
        assert all(r.passed for r in results) and _served(alive_url) - served == len(jobs)
        os.kill(hung.pid, signal.SIGCONT)
        time.sleep(1.2)  # the breaker's cooldown: then a health probe lets it back in
        before = _served(hung_url)
        assert all(r.passed for r in backend.run_tests_batch(jobs))
        assert _served(hung_url) > before
    finally:
        backend.close()
        os.kill(hung.pid, signal.SIGCONT)
        stop(hung)
        stop(alive)


def test_no_endpoint_means_unscorable_not_wrong(execution):
    execution("sandbox-fusion=http://127.0.0.1:9")  # the discard port: nothing listens there
    backend = backends.remote_backend()
    backend.settings.max_attempts, backend.settings.backoff_s = 2, 0.01
    [result] = run_tests_batch([JOBS[0]])
    assert result.status == "sandbox_error" and not result.passed
    assert code_score(["```python\nprint(1)\n```"], [{"public_tests": [{"input": "", "output": "1"}]}]) == [
        None
    ]
    rows = {"task": ["code"], "public_tests": [[{"input": "", "output": "1"}]]}
    assert task_reward(prompts=[""], completions=["print(1)"], **rows) == [None]
    assert asyncio.run(atask_reward(prompts=[""], completions=["print(1)"], **rows)) == [None]
    rlef_reward = make_private_tests_reward()
    assert rlef_reward([""], ["print(1)"], private_tests=[[{"input": "", "output": "1"}]]) == [None]
    problems = Dataset.from_list(
        [{"prompt": [{"role": "user", "content": "print 1"}], **{k: v[0] for k, v in rows.items()}}]
    )
    with pytest.raises(RuntimeError, match="1 of 1 samples could not be judged"):
        harness_score(problems, [["print(1)"]], [1])


def test_trainer_runs_remote_rewards_on_trls_async_path(servers, tiny_model, tmp_path):
    from trl.trainer.utils import is_async_callable

    from trl_ext import PassAtKConfig, PassAtKTrainer

    seen = []

    async def parity_reward(prompts, completions, **kwargs):
        jobs = [{"code": f"print(len({c[0]['content']!r}) % 2)"} for c in completions]
        results = await backends.arun_batch(jobs)
        seen.extend(r.status for r in results)
        return [None if r.status == "sandbox_error" else float(r.stdout.strip() == "1") for r in results]

    assert is_async_callable(parity_reward) and is_async_callable(atask_reward)
    args = PassAtKConfig(
        **cpu_grpo_args(tmp_path, max_steps=1), k=2, execution=f"sandbox-fusion={servers[0]}"
    )
    try:
        PassAtKTrainer(
            model=tiny_model, reward_funcs=parity_reward, args=args, train_dataset=toy_dataset()
        ).train()
        assert isinstance(backends.remote_backend(), SandboxFusionBackend)
    finally:
        backends.configure(None)
        backends.close()
    assert seen and set(seen) == {"ok"}
