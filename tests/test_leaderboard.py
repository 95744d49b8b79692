"""The leaderboard: submission validation and the queue, the backend (incl. being killed mid-evaluation),
the Gradio app through gradio_client, the full flow to a leaderboard row, the browser view, and deploy."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

import hub_datasets
from trl_ext import hub
from trl_ext.cli import main
from trl_ext.leaderboard import settings as settings_io
from trl_ext.leaderboard.app import build_app, filter_frame, leaderboard_frame, passk_figure, queue_frame
from trl_ext.leaderboard.backend import process_once
from trl_ext.leaderboard.settings import Benchmark, Settings
from trl_ext.leaderboard.submissions import SubmissionError, list_requests, submit
from trl_ext.models import build_tiny_model

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A local hub: a PBE demo benchmark, two tiny models (one without a license), leaderboard settings."""
    root = tmp_path_factory.mktemp("lb") / "hub"
    built = hub_datasets.build("pbe", "demo", n=16, n_test=12, seed=0)
    hub.push_dataset(
        built.dataset,
        str(root / "datasets/pbe"),
        "demo",
        card_meta=built.card_meta,
        card_body=built.card_body,
    )
    corpus = [r["prompt"][0]["content"] + r["answer"] for r in built.dataset["train"]]
    build_tiny_model(root / "models/tiny", corpus)
    shutil.copytree(root / "models/tiny", root / "models/unlicensed")
    (root / "models/unlicensed/README.md").write_text("# no front matter, no license\n")
    return root


def make_settings(world, name, **kwargs) -> Settings:
    bench = Benchmark(
        dataset=str(world / "datasets/pbe"),
        config="demo",
        samples=4,
        ks=[1, 2, 4],
        max_new_tokens=8,
        limit=12,
    )
    settings = Settings(
        requests=str(world / name / "requests"),
        results=str(world / name / "results"),
        benchmarks=[bench],
        local_models=str(world / "models"),
        **kwargs,
    )
    settings_io.save(settings)
    return settings


def test_submission_validation(world):
    settings = make_settings(world, "validation", daily_limit=3)
    assert settings_io.load(settings.requests) == settings
    request = submit(settings, "local/tiny", precision="float32", model_type="rl-tuned")
    assert (
        request.status == "PENDING" and request.license == "apache-2.0" and request.benchmarks == ["pbe/demo"]
    )
    refusals = {
        "already submitted": dict(model="local/tiny"),
        "malformed model id": dict(model="../models/tiny"),
        "malformed model id: '/etc/passwd'": dict(model="/etc/passwd"),
        "malformed model id: 'local/ti ny'": dict(model="local/ti ny"),
        "malformed revision": dict(model="local/tiny", revision="../x"),
        "precision must be one of": dict(model="local/tiny", precision="int3"),
        "model type must be one of": dict(model="local/tiny", model_type="alien"),
        "unknown benchmark 'chess/x'": dict(model="local/tiny", benchmarks=["chess/x"]),
        "choose at least one benchmark": dict(model="local/tiny", revision="other", benchmarks=[]),
        "does not exist": dict(model="local/missing"),
        "declares no license": dict(model="local/unlicensed"),
    }
    for reason, kwargs in refusals.items():
        with pytest.raises(SubmissionError, match=reason.replace("(", r"\(")):
            submit(settings, **kwargs)
    submit(settings, "local/tiny", revision="v2")
    submit(settings, "local/tiny", revision="v3")
    with pytest.raises(SubmissionError, match="reached its limit of 3 submissions per day"):
        submit(settings, "local/tiny", revision="v4")
    assert len(list_requests(settings.requests)) == 3


def test_concurrent_submissions_never_overwrite(world):
    settings = make_settings(world, "concurrent", daily_limit=100)
    errors, threads = [], []

    def one(revision):
        try:
            submit(settings, "local/tiny", revision=revision)
        except SubmissionError as err:
            errors.append(str(err))

    revisions = [f"r{i}" for i in range(12)] + ["same"] * 6
    threads = [threading.Thread(target=one, args=(r,)) for r in revisions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    requests = list_requests(settings.requests)
    assert sorted(r.revision for r in requests) == sorted([f"r{i}" for i in range(12)] + ["same"])
    assert len(errors) == 5 and all("already submitted" in e for e in errors)
    assert len({r.id for r in requests}) == len(requests)


def test_backend_finishes_fails_and_requeues(world):
    settings = make_settings(world, "backend")
    submit(settings, "local/tiny")
    done = process_once(settings)
    assert done.status == "FINISHED" and process_once(settings) is None
    frame = leaderboard_frame(settings)
    assert list(frame["Model"]) == ["local/tiny"]
    assert {"pbe/demo pass@1", "pbe/demo pass@4", "pbe/demo maj@2"} <= set(frame.columns)
    assert frame["Params (M)"].iloc[0] > 0
    # a benchmark that cannot be loaded fails the request with the reason
    broken = replace(settings, benchmarks=[replace(settings.benchmarks[0], dataset=str(world / "nowhere"))])
    submit(broken, "local/tiny", revision="other")
    failed = process_once(broken)
    assert failed.status == "FAILED" and "does not exist" in failed.failure_reason
    # an abandoned RUNNING request is requeued after the timeout
    stale = replace(
        list_requests(settings.requests)[0],
        status="RUNNING",
        started_time="2000-01-01T00:00:00+00:00",
        id="stale0000001",
    )
    hub.write_json(settings.requests, stale.path, stale.__dict__)
    assert process_once(replace(settings, running_timeout_s=60)).id == "stale0000001"
    queue = queue_frame(settings)
    assert set(queue["Status"]) == {"FINISHED", "FAILED"}
    assert filter_frame(frame, ["rl-tuned"], ["float32"], ["< 1M"]).empty
    assert len(filter_frame(frame, ["fine-tuned"], ["float32"], ["< 1M"])) == 1
    assert passk_figure(settings, "pbe/demo").axes[0].lines


@pytest.mark.slow
def test_backend_killed_mid_evaluation_loses_nothing(world):
    settings = make_settings(world, "killed")
    slow = replace(
        settings, benchmarks=[replace(settings.benchmarks[0], samples=64, ks=[1, 64], max_new_tokens=64)]
    )
    settings_io.save(slow)
    submit(slow, "local/tiny")
    backend = subprocess.Popen(
        [sys.executable, "-m", "trl_ext.leaderboard.backend", "--requests", slow.requests, "--once"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TQDM_DISABLE": "1"},
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline and list_requests(slow.requests)[0].status != "RUNNING":
            time.sleep(0.1)
        assert list_requests(slow.requests)[0].status == "RUNNING"
        time.sleep(1.0)
        assert backend.poll() is None, "the evaluation finished before it could be interrupted"
        backend.send_signal(signal.SIGKILL)
        backend.wait(30)
    finally:
        if backend.poll() is None:
            backend.kill()
    assert list_requests(slow.requests)[0].status == "RUNNING"
    assert hub.list_files(slow.results) == []  # no partial results
    quick = replace(settings, running_timeout_s=0)
    done = process_once(quick)
    assert done.status == "FINISHED" and done.attempts == 2
    assert len(hub.list_files(slow.results)) == 1


@pytest.fixture(scope="module")
def served(world):
    """The app on 127.0.0.1 with one evaluated model."""
    settings = make_settings(world, "served")
    submit(settings, "local/tiny")
    process_once(settings)
    port = free_port()
    app = build_app(settings)
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield settings, f"http://127.0.0.1:{port}/"
    finally:
        app.close()


def test_submissions_through_gradio_client(served, capsys):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    settings, url = served
    client = Client(url, verbose=False)
    ok = client.predict(
        "local/tiny", "v9", "float32", "fine-tuned", ["pbe/demo"], "tester", api_name="/submit"
    )
    assert ok.startswith("✅ Submitted local/tiny (v9, float32)")
    refusals = {  # a refusal is an error for API clients (gr.Error), not a success message
        "already submitted": ("local/tiny", "v9", "float32", "fine-tuned", ["pbe/demo"], "tester"),
        "malformed model id": ("../../etc", "main", "float32", "fine-tuned", ["pbe/demo"], "tester"),
        "choose at least one benchmark": ("local/tiny", "v11", "float32", "fine-tuned", [], "tester"),
    }
    for reason, args in refusals.items():
        with pytest.raises(AppError, match=reason):
            client.predict(*args, api_name="/submit")
    # the CLI through the same API: a refusal exits non-zero with the reason; no --benchmarks means all
    assert main(["submit", "--leaderboard", url, "--model", "local/unlicensed"]) == 2
    assert "declares no license" in capsys.readouterr().err
    assert main(["submit", "--leaderboard", url, "--model", "local/tiny", "--revision", "v10"]) == 0
    assert {r.revision for r in list_requests(settings.requests)} == {"main", "v9", "v10"}
    assert next(r for r in list_requests(settings.requests) if r.revision == "v10").benchmarks == ["pbe/demo"]


def test_api_endpoints_are_named_and_defaults_match_the_cli(served):
    from gradio_client import Client

    from trl_ext.cli import build_parser

    _, url = served
    api = Client(url, verbose=False).view_api(print_info=False, return_format="dict")
    assert set(api["named_endpoints"]) == {"/leaderboard", "/submit", "/queue", "/plot"}
    assert not api["unnamed_endpoints"]
    params = {p["parameter_name"]: p for p in api["named_endpoints"]["/submit"]["parameters"]}
    assert list(params) == ["model", "revision", "precision", "model_type", "benchmarks", "submitter"]
    cli_default = build_parser().verbs["submit"].get_default("precision")
    assert params["precision"]["parameter_default"] == cli_default == "float32"


def test_page_columns_units_last_updated_and_settings(world):
    from trl_ext.leaderboard.app import about_text, display_frame, last_updated, load_results

    settings = make_settings(world, "page")
    for revision in ("a", "b"):
        submit(settings, "local/tiny", revision=revision)
        process_once(settings)
    frame = leaderboard_frame(settings)
    assert list(frame.columns[:7]) == [
        "Rank",
        "Model",
        "Revision",
        "Precision",
        "Type",
        "Params (M)",
        "Average pass@1",
    ]
    assert list(frame["Average pass@1"]) == list(frame["pbe/demo pass@1"])  # one benchmark: its pass@1
    assert frame["Average pass@1"].is_monotonic_decreasing and frame["Rank"].iloc[0] == 1
    shown = display_frame(frame)
    assert "pbe/demo pass@1 (%)" in shown.columns and "Average pass@1 (%)" in shown.columns
    results = load_results(settings)
    assert (
        last_updated(results)
        == f"Last updated: {max(r['config']['date'] for r in results)} (UTC) · 2 evaluations"
    )
    assert "| pbe/demo | test | 12 | 4 | 1, 2, 4 | 8 | 1.0 |" in about_text(settings)


def test_sign_in_on_a_space_and_limits_per_account(world, monkeypatch):
    import gradio as gr

    from trl_ext.leaderboard.app import submit_handler

    settings = make_settings(world, "space", daily_limit=1)
    args = ("local/tiny", "main", "float32", "fine-tuned", ["pbe/demo"], "anyone")
    monkeypatch.setenv("SPACE_ID", "org/board")
    monkeypatch.setenv("SYSTEM", "spaces")
    # on a Space gradio wraps functions with the `spaces` package (ZeroGPU); here `spaces` is our folder
    monkeypatch.setattr(
        "gradio.block_function.spaces", SimpleNamespace(gradio_auto_wrap=lambda fn: fn), raising=False
    )
    oauth = {"OAUTH_CLIENT_ID": "id", "OAUTH_CLIENT_SECRET": "secret", "OAUTH_SCOPES": "openid profile"}
    for name, value in {
        **oauth,
        "OPENID_PROVIDER_URL": "https://huggingface.co",
    }.items():  # what hf_oauth sets
        monkeypatch.setattr(f"gradio.oauth.{name}", value)
    assert any(isinstance(block, gr.LoginButton) for block in build_app(settings).blocks.values())
    with pytest.raises(gr.Error, match="Sign in"):
        submit_handler(settings, *args, profile=None)
    alice, bob = SimpleNamespace(username="alice"), SimpleNamespace(username="bob")
    assert submit_handler(settings, *args, profile=alice).startswith("✅")
    assert list_requests(settings.requests)[0].submitter == "alice"  # the account, not the typed name
    with pytest.raises(gr.Error, match="account 'alice' reached its limit of 1"):
        submit_handler(
            settings, "local/tiny", "v2", "float32", "fine-tuned", ["pbe/demo"], "x", profile=alice
        )
    assert submit_handler(
        settings, "local/tiny", "v2", "float32", "fine-tuned", ["pbe/demo"], "x", profile=bob
    )
    monkeypatch.delenv("SPACE_ID")
    assert not any(isinstance(block, gr.LoginButton) for block in build_app(settings).blocks.values())


def test_settings_hold_absolute_paths_for_a_backend_started_elsewhere(world, tmp_path, monkeypatch):
    monkeypatch.chdir(world)
    settings = Settings(
        requests="./rel/requests",
        results="./rel/results",
        benchmarks=[replace(make_settings(world, "rel-template").benchmarks[0], dataset="./datasets/pbe")],
        local_models="./models",
    )
    settings_io.save(settings)
    stored = json.loads((world / "rel/requests/leaderboard.json").read_text())
    assert stored["results"] == str(world / "rel/results") and stored["local_models"] == str(world / "models")
    assert stored["benchmarks"][0]["dataset"] == str(world / "datasets/pbe")
    submit(settings_io.load("./rel/requests"), "local/tiny")
    monkeypatch.chdir(tmp_path)  # the backend runs from another folder
    assert main(["backend", "--requests", str(world / "rel/requests"), "--once"]) == 0
    assert list_requests(str(world / "rel/requests"))[0].status == "FINISHED"


def test_cli_submit_to_local_queue(world, capsys):
    settings = make_settings(world, "cli")
    assert (
        main(
            ["submit", "--leaderboard", settings.requests, "--model", "local/tiny", "--precision", "bfloat16"]
        )
        == 0
    )
    assert (
        main(
            ["submit", "--leaderboard", settings.requests, "--model", "local/tiny", "--precision", "bfloat16"]
        )
        == 2
    )
    assert "already submitted" in capsys.readouterr().err


@pytest.mark.slow
def test_browser_renders_leaderboard_rows(served, tmp_path):
    from trl_ext.leaderboard.browser import chromium_available, headless_chrome, wait_for_rows

    if not chromium_available():
        pytest.skip(
            "chromium and chromium-driver are not installed (make test installs them with apt-get when it can)"
        )
    settings, url = served
    driver = headless_chrome()
    try:
        driver.get(url)
        table = wait_for_rows(driver, "local/tiny").replace("\n", " ")
        for column in ("Rank", "Average pass@1 (%)", "pbe/demo pass@1 (%)"):
            assert column in table
        assert "Last updated: 20" in driver.find_element("id", "last-updated").text
        driver.save_screenshot(str(tmp_path / "leaderboard.png"))
        severe = [
            e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]
        ]
        assert not severe, severe
    finally:
        driver.quit()
    assert (tmp_path / "leaderboard.png").stat().st_size > 10_000


def test_space_folder_is_light_and_runs_without_torch(world, tmp_path):
    """What deploy uploads: light requirements (no wheel, no torch/TRL/transformers/PEFT), OAuth, Hub
    benchmarks, the front end's modules; and that front end builds with torch & co. unimportable."""
    from trl_ext.leaderboard.deploy import space_folder

    settings = make_settings(world, "space-folder")
    folder = space_folder(tmp_path / "space", settings)
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert files == [
        "README.md", "app.py", "requirements.txt", "space.json", "trl_ext/__init__.py", "trl_ext/hub.py",
        "trl_ext/leaderboard/__init__.py", "trl_ext/leaderboard/app.py", "trl_ext/leaderboard/settings.py",
        "trl_ext/leaderboard/submissions.py",
    ]  # fmt: skip
    requirements = (folder / "requirements.txt").read_text().split()
    names = {r.split(">=")[0].split("[")[0].lower() for r in requirements}
    assert names == {"gradio", "huggingface_hub", "pandas", "matplotlib", "pyyaml"}
    assert not any(r.startswith(".") or r.endswith(".whl") for r in requirements)
    meta, body = hub.split_card((folder / "README.md").read_text())
    assert meta["sdk"] == "gradio" and meta["hf_oauth"] is True and "HF_TOKEN" in body
    assert "trl-ext backend --requests" in body and "github.com" not in body
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'torch', 'transformers', 'trl', 'peft', 'datasets', 'hub_datasets'}:\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "sys.path.insert(0, '.')\n"
        "import trl_ext.leaderboard.app as app, trl_ext.leaderboard.settings as s\n"
        "assert app.__file__.startswith(sys.argv[1]), app.__file__\n"
        "app.build_app(s.load(sys.argv[2]))\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", blocker, str(folder), settings.requests],
        cwd=folder, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(folder)},
    )  # fmt: skip
    assert done.stdout.strip().endswith("ok"), done.stderr[-2000:]


@pytest.mark.hub
def test_deploy_to_loopback_hub(loopback_hub, world, monkeypatch, capsys):
    built = hub_datasets.build("pbe", "demo", n=8, n_test=4, seed=0)
    hub.push_dataset(
        built.dataset, "tester/pbe", "demo", card_meta=built.card_meta, card_body=built.card_body
    )
    refusals = {
        ("--benchmark", "./hub/datasets/pbe"): "a Space reads Hub datasets, not local folders",
        ("--benchmark", "tester/missing"): "'tester/missing' does not exist",
        ("--benchmark", "tester/pbe:hard"): "has no config 'hard'; configs: demo",
        (): "--deploy needs at least one --benchmark",
    }
    for extra, reason in refusals.items():
        assert main(["leaderboard", "--deploy", "tester/board", *extra]) == 2
        assert reason in capsys.readouterr().err
    assert (
        main(["leaderboard", "--deploy", "tester/board", "--benchmark", "tester/pbe", "--samples", "4"]) == 0
    )
    printed = capsys.readouterr().out
    assert "add it (a token with write access to tester/board-requests)" in printed
    assert "trl-ext backend --requests tester/board-requests --loop" in printed
    space = set(hub.list_files("tester/board", repo_type="space"))
    assert {"app.py", "README.md", "requirements.txt", "space.json", "trl_ext/leaderboard/app.py"} <= space
    assert not any(p.endswith(".whl") for p in space)
    assert json.loads(hub.read_text("tester/board", "space.json", repo_type="space")) == {
        "requests": "tester/board-requests"
    }
    settings = settings_io.load("tester/board-requests")
    assert settings.results == "tester/board-results" and settings.benchmarks[0].dataset == "tester/pbe"
    assert settings.benchmarks[0].config == "demo" and settings.benchmarks[0].samples == 4
    assert hub.exists("tester/board-results", repo_type="dataset")
    secrets = {}
    monkeypatch.setattr(
        "huggingface_hub.HfApi.add_space_secret",
        lambda self, repo_id, key, value, **kw: secrets.update({(repo_id, key): value}),
    )
    assert main(["leaderboard", "--deploy", "tester/board", "--benchmark", "tester/pbe", "--set-token"]) == 0
    assert secrets == {("tester/board", "HF_TOKEN"): "hf_loopback_test_token"}


def test_evaluate_cli(world, tmp_path, capsys):
    dataset, model = str(world / "datasets/pbe"), str(world / "models/tiny")
    out = tmp_path / "results.json"
    argv = [
        "evaluate",
        "--model",
        model,
        "--dataset",
        dataset,
        "--config",
        "demo",  # the dataset's config (the old meaning of --config, still accepted)
        "--samples",
        "4",
        "--k",
        "1,4",
    ]
    assert main([*argv, "--limit", "5", "--max-new-tokens", "8", "--output", str(out)]) == 0
    results = json.loads(out.read_text())
    assert set(results["config"]) >= {
        "model",
        "revision",
        "precision",
        "dataset",
        "dataset_config",
        "samples",
        "generation",
        "harness_version",
    }
    assert set(results["results"]["pbe/demo"]) == {"pass@1", "pass@4", "maj@1", "maj@4"}
    assert "pass@4" in capsys.readouterr().out
    no_task = tmp_path / "plain"
    from datasets import Dataset, DatasetDict

    hub.push_dataset(DatasetDict(test=Dataset.from_dict({"prompt": ["x"]})), str(no_task), "default")
    for bad, message in [
        (["--k", "8"], "k=8 exceeds --samples 4"),
        (["--model", str(world / "models/none")], "does not exist"),
        (["--dataset", str(no_task), "--config", "default"], "not a trl-ext benchmark"),
        (["--split", "validation"], "has no split 'validation'"),
    ]:
        assert main([*argv, *bad]) == 2
        assert message in capsys.readouterr().err
