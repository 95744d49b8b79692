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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trainer_helpers import ROOT, toy_dataset

from trl_ext.eval.harness import score as harness_score
from trl_ext.execution import backends, run_batch, run_tests, run_tests_batch
from trl_ext.execution.ray_backend import RaySettings
from trl_ext.execution.remote import (
    ALLOW_TEST_CODE_ENV,
    TOKEN_ENV,
    RemoteSettings,
    SandboxFusionBackend,
    UnsafeRemoteJobError,
)
from trl_ext.execution.server import spawn, stop
from trl_ext.rewards import atask_reward, task_reward
from trl_ext.rewards.code import public_pass
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
    monkeypatch.setenv(backends.ENV, "sandbox-fusion=http://127.0.0.1:9;max_in_flightt=2")
    with pytest.raises(ValueError, match=r"^\$TRL_EXT_EXECUTION: unknown execution option 'max_in_flightt'"):
        backends.current_spec()
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


def test_spec_options_are_the_backends_settings():
    spec = backends.parse_spec(
        " sandbox-fusion=http://h1:8080/, https://h2/prefix ; request_timeout_s = 60 ;max_in_flight=8;"
    )
    assert spec.urls == ("http://h1:8080", "https://h2/prefix")
    assert spec.options == (("max_in_flight", 8), ("request_timeout_s", 60.0))  # the dataclass's order
    assert (
        str(spec) == "sandbox-fusion=http://h1:8080,https://h2/prefix;max_in_flight=8;request_timeout_s=60.0"
    )
    assert spec.settings() == RemoteSettings(max_in_flight=8, request_timeout_s=60.0)
    assert backends.parse_spec(str(spec)) == spec and hash(spec) == hash(backends.parse_spec(str(spec)))
    ray_spec = backends.parse_spec("ray=auto;num_actors=4")
    assert ray_spec.address == "auto" and ray_spec.settings() == RaySettings(num_actors=4)
    assert backends.parse_spec("ray;cpus_per_actor=2;num_actors=none").settings() == RaySettings(
        cpus_per_actor=2
    )
    assert str(backends.parse_spec("ray;num_actors=none")) == "ray;num_actors=none"
    secrets = {"token": TOKEN_ENV, "allow_test_code_in_candidate_process": ALLOW_TEST_CODE_ENV}
    assert backends.ENVIRONMENT_ONLY == {key: f"${env}" for key, env in secrets.items()}
    flag = backends.convert_option
    assert [flag(bool, t) for t in ("true", "False", "1", "0")] == [True, False, True, False]
    assert flag(str, "x=y") == "x=y" and flag(int | None, "None") is None and flag(float, "1e-3") == 0.001
    with pytest.raises(TypeError, match="cannot be set from a spec string"):
        flag(list[int], "1")


REMOTE_KEYS = (
    "max_in_flight, chunk_size, request_timeout_s, max_attempts, backoff_s, backoff_max_s, breaker_failures"
)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "sandbox-fusion=http://h:1;chunk_sise=2",
            f"unknown execution option 'chunk_sise' for sandbox-fusion (options of sandbox-fusion: {REMOTE_KEYS}",
        ),
        ("sandbox-fusion=http://h:1;chunk_size=2;chunk_size=3", "execution option 'chunk_size' given twice"),
        (
            "sandbox-fusion=http://h:1;max_in_flight=0",
            "max_in_flight='0': expected a whole number of at least 1",
        ),
        (
            "sandbox-fusion=http://h:1;max_attempts=-2",
            "max_attempts='-2': expected a whole number of at least 1",
        ),
        (
            "sandbox-fusion=http://h:1;max_attempts=2.5",
            "max_attempts='2.5': expected a whole number of at least 1",
        ),
        ("sandbox-fusion=http://h:1;backoff_s=-1", "backoff_s='-1': expected a finite number of at least 0"),
        (
            "sandbox-fusion=http://h:1;request_timeout_s=inf",
            "request_timeout_s='inf': expected a finite number",
        ),
        (
            "sandbox-fusion=http://h:1;busy_deadline_s=soon",
            "busy_deadline_s='soon': expected a finite number",
        ),
        (
            "sandbox-fusion=http://h:1;token=s3cret",
            "'token' is not taken from the spec, which recipes, logs and results record: set $TRL_EXT_SANDBOX_TOKEN",
        ),
        (
            "sandbox-fusion=http://h:1;allow_test_code_in_candidate_process=true",
            "set $TRL_EXT_ALLOW_TEST_CODE_IN_CANDIDATE_PROCESS instead",
        ),
        (
            "sandbox-fusion=http://h/a;b",
            "execution option 'b' is not KEY=VALUE (options follow the backend after ';', so a URL cannot contain ';')",
        ),
        (
            "sandbox-fusion=http://h:8080/run?x=1&y=2",
            "endpoint 'http://h:8080/run?x=1&y=2': no query string or fragment",
        ),
        ("sandbox-fusion=http://h:8080#top", "no query string or fragment"),
        (
            "sandbox-fusion=http://user:s3cret@h:8080",
            "no credentials in an endpoint URL (recipes, logs and results record it): set $TRL_EXT_SANDBOX_TOKEN",
        ),
        ("sandbox-fusion=http://h:99999", "endpoint 'http://h:99999': the port is not a number in 0-65535"),
        ("sandbox-fusion=http://h:port", "the port is not a number"),
        (
            "ray;num_actors=0",
            "num_actors='0': expected a whole number of at least 1 or none (options of ray: num_actors, cpus_per_actor, chunk_size, in_flight_per_actor, max_attempts)",
        ),
        (
            "ray=auto;cpus_per_actor=none",
            "cpus_per_actor='none': expected a whole number of at least 1 (options",
        ),
        ("ray;token=x", "unknown execution option 'token' for ray"),
        (
            "local;max_in_flight=2;token=s3cret",
            "the local backend takes no options, got max_in_flight, token",
        ),
    ],
)
def test_each_bad_spec_option_is_one_line_naming_the_key(spec, message):
    with pytest.raises(ValueError) as error:
        backends.parse_spec(spec)
    assert message in str(error.value) and "\n" not in str(error.value) and "s3cret" not in str(error.value)


_COUNT = st.integers(1, 10**6)
_SECONDS = st.floats(0, 1e6, allow_nan=False, allow_infinity=False)
_REMOTE_VALUES = {
    "max_in_flight": _COUNT,
    "chunk_size": _COUNT,
    "request_timeout_s": _SECONDS,
    "max_attempts": _COUNT,
    "backoff_s": _SECONDS,
    "backoff_max_s": _SECONDS,
    "breaker_failures": _COUNT,
    "breaker_cooldown_s": _SECONDS,
    "busy_deadline_s": _SECONDS,
}
_RAY_VALUES = {
    "num_actors": st.none() | _COUNT,
    "cpus_per_actor": _COUNT,
    "chunk_size": _COUNT,
    "in_flight_per_actor": _COUNT,
    "max_attempts": _COUNT,
}
_URL = st.builds(
    "{}://{}{}{}".format,
    st.sampled_from(["http", "https"]),
    st.sampled_from(["h", "cpu-node-1", "sandbox.example.org", "10.0.0.7", "[::1]"]),
    st.just("") | st.integers(0, 65535).map(":{}".format),
    st.lists(st.sampled_from(["api", "v1", "a.b", "~u", "x-y_z"]), max_size=2).map(
        lambda p: "".join("/" + x for x in p)
    ),
)


def _written(value) -> str:
    return "None" if value is None else str(value)  # `none` in any case


@st.composite
def _spec_texts(draw):
    kind = draw(st.sampled_from(["sandbox-fusion", "ray"]))
    values = _REMOTE_VALUES if kind == "sandbox-fusion" else _RAY_VALUES
    options = draw(st.dictionaries(st.sampled_from(sorted(values)), st.just(None), max_size=len(values)))
    options = {key: draw(values[key]) for key in draw(st.permutations(list(options)))}
    if kind == "sandbox-fusion":
        head = f"sandbox-fusion={','.join(draw(st.lists(_URL, min_size=1, max_size=3)))}"
    else:
        head = draw(st.sampled_from(["ray", "ray=auto", "ray=10.0.0.1:6379", "ray=ray://head:10001"]))
    pad = draw(st.sampled_from(["", " "]))
    text = ";".join([head, *(f"{pad}{key}{pad}={pad}{_written(value)}" for key, value in options.items())])
    return text, kind, options


@settings(
    max_examples=200, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck)
)
@given(_spec_texts())
def test_spec_string_round_trips(drawn):
    text, kind, options = drawn
    spec = backends.parse_spec(text)
    assert spec.kind == kind and dict(spec.options) == options
    assert backends.parse_spec(str(spec)) == spec and str(backends.parse_spec(str(spec))) == str(spec)
    settings_ = spec.settings()
    assert all(getattr(settings_, key) == value for key, value in options.items())


def test_a_recipe_line_chooses_the_backend(tmp_path):
    from trl_ext.train import make_parser

    recipe = tmp_path / "recipe.yaml"
    base = (ROOT / "recipes/passk/cpu-tiny.yaml").read_text()
    spec = "sandbox-fusion=http://127.0.0.1:9;max_in_flight=2;request_timeout_s=7.5"
    recipe.write_text(f"{base}\nexecution: {spec}\noutput_dir: {tmp_path}\n")
    try:
        _, training_args, _ = make_parser("passk").parse_args_and_config(args=["--config", str(recipe)])
        assert training_args.execution == spec  # recorded as written (it has no secret to leak)
        assert backends.current_spec().urls == ("http://127.0.0.1:9",)
        assert backends.current_spec().settings() == RemoteSettings(max_in_flight=2, request_timeout_s=7.5)
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


def test_spec_options_reach_the_replica(servers, execution):
    """`chunk_size` and `max_in_flight` given in the spec, seen by a real replica: the jobs it holds at once (its
    /health `in_flight`, polled while the batch runs) are one job, then one chunk of 3 (the defaults: 4 and 6)."""
    url = servers[0]
    jobs = [
        {
            "code": "import time\ntime.sleep(0.1)\nprint(input())",
            "tests": [{"input": str(i), "output": str(i)}],
        }
        for i in range(6)
    ]
    for options, held in (("chunk_size=1;max_in_flight=1", {1}), ("max_in_flight=1;chunk_size=3", {3})):
        execution(f"sandbox-fusion={url};{options}")
        seen, results = _held_while(url, lambda: run_tests_batch(jobs))
        assert all(r.passed for r in results) and seen - {0} == held, (options, seen)


def _held_while(url: str, run) -> tuple[set[int], object]:
    """The replica's /health `in_flight` values seen while `run()` runs, and what it returned."""
    seen, done = set(), threading.Event()

    def watch():
        with httpx.Client() as client:
            while not done.is_set():
                seen.add(client.get(f"{url}/health", timeout=10).json()["in_flight"])

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        return seen, run()
    finally:
        done.set()
        watcher.join()


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


def test_no_endpoint_means_unscorable_not_wrong(execution, monkeypatch):
    execution(
        "sandbox-fusion=http://127.0.0.1:9;max_attempts=2;backoff_s=0.01"
    )  # the discard port: nothing listens
    [result] = run_tests_batch([JOBS[0]])
    assert result.status == "sandbox_error" and not result.passed
    assert (
        "no endpoint could run the job after 2 tries" in result.results[0].stderr
    )  # the spec's max_attempts
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
    assert public_pass(["print(1)"], [{"public_tests": [{"input": "", "output": "1"}]}]) == [
        None
    ]  # not False
    # judged locally, but the public check that picks n@k's submissions fails (a sandbox lost in between)
    execution("local")
    monkeypatch.setattr("trl_ext.rewards.code.public_pass", lambda texts, rows: [None] * len(texts))
    with pytest.raises(RuntimeError, match="1 of 1 public-test checks could not be judged"):
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
