"""The `trl-ext` command line: conventions (help, defaults, choices, --version, env), one clear early error per
bad input (argument errors before torch is imported), and the evaluation harness behind `evaluate`: base
models, greedy decoding, maj@k only with canonical answers, n@k, the reproducibility fields of the results
JSON, standard errors, --log-samples and a YAML --config."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import hub_datasets
from trl_ext import hub
from trl_ext.cli import build_parser, main
from trl_ext.models import build_tiny_model

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def bad_recipes(tmp_path):
    """A recipe with a key typo, one with a YAML syntax error, one whose execution backend has a bad option."""
    typo, broken, backend = tmp_path / "typo.yaml", tmp_path / "broken.yaml", tmp_path / "backend.yaml"
    recipe = (ROOT / "recipes/passk/cpu-tiny.yaml").read_text()
    typo.write_text(recipe.replace("max_steps:", "max_stesp:"))
    broken.write_text("k: 4\nobjective: [pass@k\n")
    backend.write_text(
        f"{recipe}\nexecution: sandbox-fusion=http://h1:8080,http://h2:8080;max_in_flight=8;chunk_sise=2\n"
    )
    return typo, broken, backend


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """A local PBE demo benchmark, a tiny chat model and the same model as a base model (no chat template)."""
    root = tmp_path_factory.mktemp("cli")
    built = hub_datasets.build("pbe", "demo", n=16, n_test=6, seed=0)
    dataset = str(root / "pbe")
    hub.push_dataset(built.dataset, dataset, "demo", card_meta=built.card_meta, card_body=built.card_body)
    corpus = [r["prompt"][0]["content"] + r["answer"] for r in built.dataset["train"]]
    chat = build_tiny_model(root / "chat", corpus)
    base = root / "base"
    shutil.copytree(chat, base)
    config = json.loads((base / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (base / "tokenizer_config.json").write_text(json.dumps(config))
    for template in base.glob("chat_template.*"):
        template.unlink()
    return {"dataset": dataset, "chat": str(chat), "base": str(base), "root": root}


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------------------------------ conventions


def test_every_verb_has_a_description_defaults_and_choices(capsys):
    parser = build_parser()
    for name, sub in parser.verbs.items():
        assert sub.description and len(sub.description) > 20, name
    assert run_cli(capsys, "--version")[1].strip().startswith("trl-ext 0.")
    code, out, _ = run_cli(capsys, "demo", "--help")
    assert code == 0 and "{passk,grpo,sft}" in out and "(default: 1500)" in out
    code, out, _ = run_cli(capsys, "evaluate", "--help")
    assert "{float32,bfloat16,float16,4bit}" in out and "(default: 8)" in out
    assert "--private" in run_cli(capsys, "build-dataset", "--help")[1]


def test_env_reports_the_stack(capsys):
    code, out, _ = run_cli(capsys, "env")
    assert code == 0
    for name in ("trl-ext", "torch", "transformers", "trl", "datasets", "GPU", "Sandbox"):
        assert f"- {name}:" in out


def test_argument_errors_come_before_torch_is_imported(bad_recipes):
    """Each bad argument is one line on stderr, exit 2, with torch never imported (so it is instant)."""
    typo, broken, backend = bad_recipes
    cases = {
        ("evaluate", "--model", "a/b", "--dataset", "c/d", "--k", "0"): "every k must be at least 1",
        ("evaluate", "--model", "a/b", "--dataset", "c/d", "--limit", "-1"): "--limit: must be at least 1",
        ("evaluate", "--model", "a/b", "--dataset", "c/d", "--limit", "0"): "--limit: must be at least 1",
        ("evaluate", "--model", "a/b", "--dataset", "c/d", "--k", "4", "--samples", "2"): "k=4 exceeds",
        ("build-dataset", "pbe", "--n", "0", "--push-to-hub", "./x"): "--n: must be at least 1",
        ("demo", "--trainer", "ppo"): "invalid choice: 'ppo'",
        ("leaderboard", "--port", "99999"): "--port: a port is 1-65535, got 99999",
        (
            "train",
            "no-such-trainer",
        ): "unknown trainer 'no-such-trainer'; registered: cures, guide, passk, rlef, spo",
        ("train", "passk", "--config", "missing.yaml"): "--config missing.yaml: no such file",
        ("train", "passk", "--config", str(typo)): "'max_stesp': unknown option for trainer 'passk'; did "
        "you mean 'max_steps'?",
        ("train", "passk", "--config", str(broken)): "broken.yaml, line 3 column 1: YAML syntax error",
        ("train", "passk", "--max_steps", "abc"): "--max_steps: expected an integer, got 'abc'",
        ("train", "passk", "--learning_rat", "1"): "did you mean 'learning_rate'?",
        ("train", "passk", "--bf16", "maybe"): "--bf16: expected true or false, got 'maybe'",
        ("train", "passk", "--config", str(backend)): "backend.yaml: 'execution': unknown execution option "
        "'chunk_sise' for sandbox-fusion (options of sandbox-fusion: max_in_flight, chunk_size,",
        (
            "train",
            "passk",
            "--execution",
            "ray;num_actors=0",
        ): "--execution: execution option num_actors='0': "
        "expected a whole number of at least 1 or none (options of ray: num_actors,",
        (
            "train",
            "passk",
            "--execution=sandbox-fusion=http://h:1;token=abc",
        ): "--execution: execution option "
        "'token' is not taken from the spec, which recipes, logs and results record: set $TRL_EXT_SANDBOX_TOKEN",
        (
            "build-dataset",
            "pbe",
            "--source",
            "x",
            "--push-to-hub",
            "./x",
        ): "pbe is generated, it takes no --source",
        (
            "leaderboard",
            "--deploy",
            "./spaces-local",
        ): "--deploy creates a Hub Space, give its id ORG/NAME; to run",
    }
    script = (
        "import json, sys\nfrom trl_ext.cli import main\nout = []\n"
        f"for argv in {list(map(list, cases))!r}:\n"
        "    out.append([main(argv), 'torch' in sys.modules])\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results == [[2, False]] * len(cases)
    errors = done.stderr.strip().splitlines()
    assert len(errors) == len(cases)  # one line each
    for line, message in zip(errors, cases.values()):
        assert message in line, (line, message)


def test_train_checks_the_environments_execution_backend_unless_the_recipe_sets_one(monkeypatch, capsys):
    from trl_ext.cli import _check_train_arguments

    recipe = str(ROOT / "recipes/passk/cpu-tiny.yaml")
    monkeypatch.setenv("TRL_EXT_EXECUTION", "ray;num_actors=-1")
    code, _, err = run_cli(capsys, "train", "passk", "--config", recipe)
    assert (
        code == 2 and "$TRL_EXT_EXECUTION: execution option num_actors='-1': expected a whole number" in err
    )
    _check_train_arguments("passk", ["--config", recipe, "--execution", "ray;num_actors=2"])  # the flag wins


def test_train_help_is_fast_and_short():
    """`train`, `train -h/--help` and `train passk --help` print help without importing torch; the per-trainer
    help is short and points at the full list; the names come from the registry."""
    from trl_ext.trainer_registry import TRAINERS

    script = (
        "import contextlib, io, json, sys\nfrom trl_ext.cli import main\nout = []\n"
        "for argv in [['train'], ['train', '--help'], ['train', '-h'], ['train', 'passk', '--help']]:\n"
        "    buffer = io.StringIO()\n"
        "    with contextlib.redirect_stdout(buffer):\n"
        "        code = main(argv)\n"
        "    out.append([code, buffer.getvalue(), 'torch' in sys.modules])\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    (bare, long, short, trainer) = json.loads(done.stdout.strip().splitlines()[-1])
    assert bare[0] == 2 and long[0] == short[0] == trainer[0] == 0
    assert not any(torch for _, _, torch in (bare, long, short, trainer))
    assert bare[1] == long[1] == short[1] and "usage: trl-ext train" in long[1]
    assert all(name in long[1] for name in TRAINERS)
    assert "recipes/passk/cpu-tiny.yaml" in trainer[1] and "--help-all" in trainer[1]
    assert len(trainer[1].splitlines()) < 20


def test_recipe_fields_read_from_source_match_the_real_dataclasses():
    """The early check's option names (read with ast) are exactly the fields TrlParser uses, for every trainer."""
    import dataclasses

    from trl_ext.recipe_fields import dataclass_fields
    from trl_ext.train import TRAINERS, TrainScriptArguments, trainer_classes

    for name, (config_path, _) in TRAINERS.items():
        config_class = trainer_classes(name)[0]
        assert set(dataclass_fields(config_path)) == {f.name for f in dataclasses.fields(config_class)}, name
    from trl import ModelConfig

    assert set(dataclass_fields("trl:ModelConfig")) == {f.name for f in dataclasses.fields(ModelConfig)}
    script_fields = {f.name for f in dataclasses.fields(TrainScriptArguments)}
    assert set(dataclass_fields("trl_ext.train:TrainScriptArguments")) == script_fields


def test_build_dataset_help_lists_every_builder_from_the_registry(capsys):
    code, out, _ = run_cli(capsys, "build-dataset", "--help")
    assert code == 0
    listed = " ".join(re.sub(r"-\n\s*", "-", out).split())  # argparse wraps lines after a hyphen
    for name in (*hub_datasets.GENERATORS, *hub_datasets.CONVERTERS):
        assert name in listed
    assert "complexity" in listed


def test_bad_sources_and_files_are_one_line_errors(tmp_path, capsys, monkeypatch):
    """No tracebacks: an empty or truncated JSONL --source, a non-UTF-8 file (named); a PEP 263 coding cookie is
    honoured for Python sources."""
    from trl_ext.cli import read_python_file

    def must_not_build(*args, **kwargs):
        raise AssertionError("built before checking the source")

    monkeypatch.setattr(hub_datasets, "build", must_not_build)
    empty, truncated, latin = tmp_path / "empty.jsonl", tmp_path / "cut.jsonl", tmp_path / "latin.jsonl"
    empty.write_text("")
    truncated.write_text('{"name": "a", "description": "x"}\n{"name": "b", "desc')
    latin.write_bytes('{"name": "caf\xe9"}\n'.encode("latin-1"))
    cases = {
        empty: f"--source {empty} is empty",
        truncated: f"--source {truncated}, line 2 is not a complete JSON record",
        latin: f"--source {latin} is not UTF-8 text",
    }
    for source, message in cases.items():
        argv = [
            "build-dataset",
            "code-contests",
            "--source",
            str(source),
            "--push-to-hub",
            str(tmp_path / "o"),
        ]
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    latin_yaml = tmp_path / "eval.yaml"
    latin_yaml.write_bytes("model: caf\xe9/x\n".encode("latin-1"))
    code, _, err = run_cli(capsys, "evaluate", "--config", str(latin_yaml))
    assert code == 2 and f"--config {latin_yaml} is not UTF-8 text" in err
    cookie = tmp_path / "cookie.py"
    cookie.write_bytes("# -*- coding: latin-1 -*-\ndef f(n):\n    return 'caf\xe9' * n\n".encode("latin-1"))
    assert "'café' * n" in read_python_file(cookie)
    garbage = tmp_path / "garbage.py"
    garbage.write_bytes(b"def f(n):\n    return '\xff\xfe' * n\n")
    code, _, err = run_cli(capsys, "complexity", str(garbage), "--function", "f", "--example", "3")
    assert code == 2 and f"{garbage} cannot be decoded as Python source" in err


def test_offline_push_is_refused_before_generating(monkeypatch, capsys):
    def must_not_build(*args, **kwargs):
        raise AssertionError("built before checking the target")

    monkeypatch.setattr(hub_datasets, "build", must_not_build)
    monkeypatch.setenv("HF_TOKEN", "hf_some_token")
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    code, _, err = run_cli(capsys, "build-dataset", "pbe", "--push-to-hub", "me/x")
    assert code == 2 and "cannot push to the Hub repo me/x: HF_HUB_OFFLINE is set" in err


def test_a_fresh_leaderboard_refuses_to_start_without_its_benchmark(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no ./hub/datasets/pbe here
    code, out, err = run_cli(capsys, "leaderboard", "--port", str(_free_port()))
    assert code == 2 and "http://" not in out
    assert "trl-ext build-dataset pbe --config demo --push-to-hub ./hub/datasets/pbe" in err
    assert not (tmp_path / "hub").exists()  # nothing created: no settings pointing at a missing benchmark


def test_backend_reports_each_failed_request_and_exits_non_zero(bench, tmp_path, capsys):
    from trl_ext.leaderboard import settings as settings_io
    from trl_ext.leaderboard.settings import Benchmark, Settings
    from trl_ext.leaderboard.submissions import submit

    models = tmp_path / "models"
    shutil.copytree(bench["chat"], models / "chat")
    missing = Benchmark(dataset=str(tmp_path / "no-dataset"), config="demo", samples=2, ks=[1])
    settings = Settings(
        requests=str(tmp_path / "requests"), results=str(tmp_path / "results"), benchmarks=[missing],
        local_models=str(models), daily_limit=10,
    )  # fmt: skip
    settings_io.save(settings)
    submit(settings, "local/chat")
    submit(settings, "local/chat", precision="bfloat16")
    code, out, err = run_cli(capsys, "backend", "--requests", settings.requests, "--once")
    assert code == 1 and "Traceback" not in out + err
    lines = out.strip().splitlines()
    assert len(lines) == 2 and all(": FAILED — no-dataset/demo: " in line for line in lines)
    assert "2 request(s) failed" in err


def test_ctrl_c_is_not_a_traceback(tmp_path):
    from trl_ext.leaderboard import settings as settings_io
    from trl_ext.leaderboard.settings import Benchmark, Settings

    settings = Settings(
        requests=str(tmp_path / "requests"), results=str(tmp_path / "results"),
        benchmarks=[Benchmark(dataset=str(tmp_path / "d"))],
    )  # fmt: skip
    settings_io.save(settings)
    argv = [sys.executable, "-m", "trl_ext.cli", "backend", "--requests", settings.requests, "--loop"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert "Ctrl-C stops it" in process.stdout.readline()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130 and "Traceback" not in err and "interrupted" in err


# ------------------------------------------------------------------------------------ early, clear errors


def test_evaluate_missing_hub_dataset_is_one_line(bench, capsys):
    code, _, err = run_cli(capsys, "evaluate", "--model", bench["chat"], "--dataset", "me/nope")
    assert code == 2 and "'me/nope' cannot be reached" in err and "Traceback" not in err


def test_evaluate_unwritable_output_is_checked_first(capsys):
    # the model does not exist either: the output is checked before anything else is looked at
    code, _, err = run_cli(
        capsys, "evaluate", "--model", "./nowhere", "--dataset", "./none", "--output", "/proc/x/r.json"
    )
    assert code == 2 and "--output /proc/x/r.json is not writable" in err


def test_build_dataset_checks_the_target_before_building(monkeypatch, tmp_path, capsys):
    def must_not_build(*args, **kwargs):
        raise AssertionError("built before checking the target")

    monkeypatch.setattr(hub_datasets, "build", must_not_build)
    code, _, err = run_cli(capsys, "build-dataset", "pbe", "--push-to-hub", "a/b/c")
    assert code == 2 and "'a/b/c' is not a valid target" in err
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "no-token-home"))
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)  # online, but no token
    code, _, err = run_cli(capsys, "build-dataset", "pbe", "--push-to-hub", "org/pbe")
    assert code == 2 and "needs a token" in err


def test_build_dataset_private_flag(monkeypatch, tmp_path, capsys):
    pushed = {}
    monkeypatch.setattr(hub, "push_dataset", lambda *a, **kw: pushed.update(kw))
    target = str(tmp_path / "pbe")
    assert (
        main(
            [
                "build-dataset",
                "pbe",
                "--config",
                "demo",
                "--n",
                "3",
                "--n-test",
                "2",
                "--push-to-hub",
                target,
                "--private",
            ]
        )
        == 0
    )
    assert pushed["private"] is True


def test_backend_without_settings_says_what_to_run(tmp_path, capsys):
    for requests in (tmp_path / "missing", tmp_path / "empty"):
        (tmp_path / "empty").mkdir(exist_ok=True)
        code, _, err = run_cli(capsys, "backend", "--requests", str(requests))
        assert code == 2 and "run" not in err.split("error:")[0]
        assert f"`trl-ext leaderboard --requests {requests}`" in err and len(err.strip().splitlines()) == 1
    done = subprocess.run(
        [sys.executable, "-m", "trl_ext.leaderboard.backend", "--requests", str(tmp_path / "empty"), "--once"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert (
        done.returncode == 2 and "Traceback" not in done.stderr and "no leaderboard settings" in done.stderr
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_submit_to_unreachable_leaderboards(capsys, monkeypatch):
    url = f"http://127.0.0.1:{_free_port()}/"
    code, _, err = run_cli(capsys, "submit", "--leaderboard", url, "--model", "org/model")
    assert code == 2 and f"cannot reach the leaderboard {url!r}" in err
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    monkeypatch.setenv("HF_TOKEN", "hf_user_token")
    code, _, err = run_cli(capsys, "submit", "--leaderboard", "org/space", "--model", "org/model")
    assert code == 2 and "cannot reach the Space 'org/space': HF_HUB_OFFLINE is set" in err


def test_leaderboard_on_a_busy_port(tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = run_cli(
            capsys, "leaderboard", "--port", str(port), "--requests", str(tmp_path / "requests")
        )
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in err and "http://" not in out


def test_missing_space_extra_is_named(monkeypatch, tmp_path, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "gradio" else real(name, *a)
    )
    code, _, err = run_cli(capsys, "leaderboard", "--requests", str(tmp_path / "requests"))
    assert code == 2 and "pip install -e '.[space]' in a trl-ext checkout" in err
    code, _, err = run_cli(capsys, "submit", "--leaderboard", "http://127.0.0.1:1/", "--model", "a/b")
    assert code == 2 and "pip install -e '.[space]' in a trl-ext checkout" in err


# ----------------------------------------------------------------------------------- evaluation harness


def test_evaluate_results_are_reproducible_records(bench, tmp_path, capsys):
    out = tmp_path / "results.json"
    argv = ["evaluate", "--model", bench["chat"], "--dataset", bench["dataset"], "--dataset-config", "demo"]
    argv += ["--samples", "4", "--k", "1,4", "--max-new-tokens", "8", "--output", str(out), "--log-samples"]
    code, printed, _ = run_cli(capsys, *argv)
    assert code == 0 and "±" in printed
    results = json.loads(out.read_text())
    config = results["config"]
    assert config["backend"] == "transformers" and config["date"].startswith("20")
    assert set(config["versions"]) >= {"trl-ext", "trl", "transformers", "torch"}
    assert config["resolved_revision"].startswith("local-sha256:") and len(config["dataset_sha256"]) == 64
    assert set(results["results"]["pbe/demo"]) == {"pass@1", "pass@4", "maj@1", "maj@4"}
    assert set(results["stderr"]["pbe/demo"]) == set(results["results"]["pbe/demo"])
    samples = [json.loads(line) for line in out.with_suffix(".samples.jsonl").read_text().splitlines()]
    assert len(samples) == 6 * 4 and {"id", "prompt", "completion", "correct", "answer"} <= set(samples[0])


def test_evaluate_base_model_greedy_from_yaml_config(bench, tmp_path, capsys):
    """A model without a chat template gets the plain prompt; temperature 0 is greedy (one completion
    standing for all N); the options come from a YAML file, the command line overriding it."""
    recipe = tmp_path / "eval.yaml"
    recipe.write_text(
        f"model: {bench['base']}\ndataset: {bench['dataset']}\ndataset_config: demo\nsamples: 3\n"
        "k: [1, 3]\ntemperature: 0\nmax_new_tokens: 6\nlimit: 4\nlog_samples: true\n"
    )
    out = tmp_path / "greedy.json"
    assert main(["evaluate", "--config", str(recipe), "--output", str(out), "--limit", "3"]) == 0
    results = json.loads(out.read_text())
    assert results["config"]["problems"] == 3 and results["config"]["generation"]["greedy"] is True
    metrics = results["results"]["pbe/demo"]
    assert metrics["pass@1"] == metrics["pass@3"]  # identical samples
    samples = [json.loads(line) for line in out.with_suffix(".samples.jsonl").read_text().splitlines()]
    by_problem = {}
    for s in samples:
        by_problem.setdefault(s["id"], set()).add(s["completion"])
    assert all(len(c) == 1 for c in by_problem.values())
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: x/y\nsampels: 3\n")
    code, _, err = run_cli(capsys, "evaluate", "--config", str(bad))
    assert code == 2 and "unknown option 'sampels'" in err


def test_plain_prompts_for_base_models(bench):
    from transformers import AutoTokenizer

    from trl_ext.eval.harness import format_prompts

    prompt = [{"role": "user", "content": "abc -> ?"}]
    base = AutoTokenizer.from_pretrained(bench["base"])
    chat = AutoTokenizer.from_pretrained(bench["chat"])
    assert format_prompts(base, [prompt]) == ["abc -> ?"]
    assert format_prompts(chat, [prompt])[0] != "abc -> ?" and "abc -> ?" in format_prompts(chat, [prompt])[0]


def test_maj_only_with_canonical_answers_and_n_at_k():
    """HumanEval rows left with `test_code` only (no call-mode tests to vote on) get no maj@k; rows whose
    checks were converted to call-mode tests vote on their outputs; code rows with public tests get n@k."""
    from datasets import Dataset

    from hub_datasets import humaneval
    from trl_ext.eval.harness import score

    all_rows = humaneval.rows()
    unconverted = [r for r in all_rows if not r["private_tests"]][:2]
    converted = [r for r in all_rows if r["private_tests"]][:2]
    assert len(unconverted) == len(converted) == 2
    for rows, has_maj in ((unconverted, False), (converted, True)):
        perfect = [[f"```python\n{r['solutions'][0]}\n```"] * 2 for r in rows]
        metrics, stderr, _ = score(Dataset.from_list(rows), perfect, [1, 2])
        assert {k: metrics[k] for k in ("pass@1", "pass@2")} == {"pass@1": 1.0, "pass@2": 1.0}
        assert stderr["pass@1"] == 0.0 and ("maj@2" in metrics) == has_maj

    contests = hub_datasets.build("code-contests", source=str(FIXTURES / "codecontests.jsonl")).dataset[
        "test"
    ]
    first = contests.select([0])
    right = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
    wrong = "```python\nprint(0)\n```"
    metrics, _, _ = score(first, [[right, wrong, wrong, wrong]], [1, 2], submissions=1)
    assert metrics["pass@1"] == 0.25 and metrics["pass@2"] == 0.5
    assert metrics["1@2"] == 0.5 and "maj@2" in metrics  # public tests pick the right one when it is drawn
