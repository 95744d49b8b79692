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
from trl_ext.leaderboard.app import (
    build_app,
    filter_frame,
    launch,
    leaderboard_frame,
    passk_figure,
    queue_frame,
)
from trl_ext.leaderboard.backend import process_once
from trl_ext.leaderboard.settings import Benchmark, Settings
from trl_ext.leaderboard.submissions import SubmissionError, list_requests, submit
from trl_ext.models import build_tiny_model

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


VARIANTS = 14  # local/tiny-v0 ... : the tiny model with slightly different weights (distinct local models)


def weights_variant(source: Path, target: Path, index: int) -> None:
    """A copy of a model folder whose weights differ (one value shifted): another model to the leaderboard."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(source, target)
    tensors = load_file(target / "model.safetensors")
    first = sorted(tensors)[0]
    tensors[first] = tensors[first].clone()
    tensors[first].view(-1)[0] += 1e-3 * (index + 1)
    save_file(tensors, target / "model.safetensors", metadata={"format": "pt"})


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A local hub: a PBE demo benchmark, tiny models (one without a license, variants with other weights),
    leaderboard settings."""
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
    for i in range(VARIANTS):
        weights_variant(root / "models/tiny", root / f"models/tiny-v{i}", i)
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
    # a local model's revision is its weights' hash: another free-text revision is the same model
    assert request.revision.startswith("sha256-") and len(request.revision) == len("sha256-") + 16
    with pytest.raises(SubmissionError, match="already submitted"):
        submit(settings, "local/tiny", revision="v2")
    submit(settings, "local/tiny-v0")
    submit(settings, "local/tiny-v1")
    with pytest.raises(SubmissionError, match="reached its limit of 3 submissions per day"):
        submit(settings, "local/tiny-v2")
    assert len(list_requests(settings.requests)) == 3


def test_concurrent_submissions_never_overwrite(world):
    settings = make_settings(world, "concurrent", daily_limit=100)
    errors, threads = [], []

    def one(model):
        try:
            submit(settings, model)
        except SubmissionError as err:
            errors.append(str(err))

    models = [f"local/tiny-v{i}" for i in range(12)] + ["local/tiny"] * 6
    threads = [threading.Thread(target=one, args=(m,)) for m in models]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    requests = list_requests(settings.requests)
    assert sorted(r.model for r in requests) == sorted(set(models))
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
    # a benchmark that cannot be loaded: the other benchmarks' results are kept, the reason names it
    nowhere = replace(settings.benchmarks[0], dataset=str(world / "nowhere"))
    partly = replace(settings, benchmarks=[nowhere, settings.benchmarks[0]])
    submit(partly, "local/tiny-v0")
    done = process_once(partly)
    assert done.status == "FINISHED" and done.failure_reason.startswith("nowhere/demo failed:")
    assert "does not exist" in done.failure_reason and "\n" not in done.failure_reason
    kept = [hub.read_json(settings.results, p) for p in hub.list_files(settings.results)]
    kept = next(r for r in kept if r["config"]["model"] == "local/tiny-v0")
    assert list(kept["results"]) == ["pbe/demo"] and kept["benchmarks"]["pbe/demo"]["samples"] == 4
    # when every benchmark fails, the request fails with every reason
    broken = replace(settings, benchmarks=[nowhere])
    submit(broken, "local/tiny-v1")
    failed = process_once(broken)
    assert failed.status == "FAILED" and failed.failure_reason.startswith("nowhere/demo: ")
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


def test_passk_plot_axis_never_goes_negative(world):
    settings = make_settings(world, "plot")
    zeros = [
        {
            "config": {"model": "org/a", "precision": "float32"},
            "results": {"pbe/demo": {"pass@1": 0.0, "pass@4": 0.0}},
        }
    ]
    bottom, top = passk_figure(settings, "pbe/demo", zeros).axes[0].get_ylim()
    assert bottom == 0 and top > 0
    some = [{**zeros[0], "results": {"pbe/demo": {"pass@1": 0.2, "pass@4": 0.6}}}]
    bottom, top = passk_figure(settings, "pbe/demo", some).axes[0].get_ylim()
    assert bottom == 0 and 60 < top <= 100


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
    app = launch(settings, port=port, block=False)  # as `trl-ext leaderboard` serves it (its CSS included)
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
        "local/tiny", "main", "bfloat16", "fine-tuned", ["pbe/demo"], "tester", api_name="/submit"
    )
    assert ok.startswith("✅ Submitted local/tiny (sha256-") and "bfloat16" in ok
    refusals = {  # a refusal is an error for API clients (gr.Error), not a success message
        "already submitted": ("local/tiny", "v9", "bfloat16", "fine-tuned", ["pbe/demo"], "tester"),
        "malformed model id": ("../../etc", "main", "float32", "fine-tuned", ["pbe/demo"], "tester"),
        "choose at least one benchmark": ("local/tiny", "v11", "float16", "fine-tuned", [], "tester"),
    }
    for reason, args in refusals.items():
        with pytest.raises(AppError, match=reason):
            client.predict(*args, api_name="/submit")
    # the CLI through the same API: a refusal exits non-zero with the reason; no --benchmarks means all
    assert main(["submit", "--leaderboard", url, "--model", "local/unlicensed"]) == 2
    assert "declares no license" in capsys.readouterr().err
    assert main(["submit", "--leaderboard", url, "--model", "local/tiny-v3"]) == 0
    assert {r.model for r in list_requests(settings.requests)} == {"local/tiny", "local/tiny-v3"}
    assert next(r for r in list_requests(settings.requests) if r.model == "local/tiny-v3").benchmarks == [
        "pbe/demo"
    ]


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
    submit(settings, "local/tiny")
    process_once(settings)
    assert last_updated(load_results(settings)).endswith("· 1 evaluation")
    submit(settings, "local/tiny-v0")
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
    assert list(frame["Average pass@1 SE"]) == list(frame["pbe/demo pass@1 SE"])
    shown = display_frame(frame)
    assert "pbe/demo pass@1 (% ± SE)" in shown.columns and "Average pass@1 (% ± SE)" in shown.columns
    first = frame.iloc[0]
    assert shown["pbe/demo pass@4 (% ± SE)"].iloc[0] == (
        f"{first['pbe/demo pass@4']:.1f} ± {first['pbe/demo pass@4 SE']:.1f}"
    )
    assert "Settings" not in shown.columns and not any(c.endswith(" SE") for c in shown.columns)
    # results computed under other settings are listed, unranked, never ranked with the current ones
    changed = replace(settings, benchmarks=[replace(settings.benchmarks[0], samples=2, ks=[1, 2])])
    other = leaderboard_frame(changed)
    assert other["Rank"].isna().all() and set(other["Settings"]) == {"samples=4, ks=[1, 2, 4]"}
    submit(changed, "local/tiny-v1")
    process_once(changed)
    mixed = leaderboard_frame(changed)
    assert list(mixed["Rank"].notna()) == [True, False, False]
    assert mixed["Model"].iloc[0] == "local/tiny-v1" and mixed["Settings"].iloc[0] == ""
    assert "Settings" in display_frame(mixed).columns
    results = load_results(settings)
    assert (
        last_updated(results)
        == f"Last updated: {max(r['config']['date'] for r in results)} (UTC) · 3 evaluations"
    )
    assert passk_figure(settings, "pbe/demo").axes[0].get_ylim()[0] == 0
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
            settings, "local/tiny-v0", "main", "float32", "fine-tuned", ["pbe/demo"], "x", profile=alice
        )
    assert submit_handler(
        settings, "local/tiny-v0", "main", "float32", "fine-tuned", ["pbe/demo"], "x", profile=bob
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
    umask = os.umask(0o022)
    os.umask(umask)
    written = [world / "rel/requests/leaderboard.json", *(world / "rel/requests/local").glob("*.json")]
    assert len(written) == 2  # files have the modes a plain open() gives, not mkstemp's 0600
    assert {oct(p.stat().st_mode & 0o777) for p in written} == {oct(0o666 & ~umask)}
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


def test_cli_submits_a_model_folder_to_a_local_leaderboard(world, tmp_path, capsys):
    """`trl-ext submit --model ./out/passk`: a folder (what train writes) is accepted by a local leaderboard,
    stored in its models folder under a name its weights decide, and evaluated; the same weights under another
    folder name are the same model."""
    settings = make_settings(world, "folder")
    out = tmp_path / "out"
    shutil.copytree(world / "models/tiny-v4", out / "passk")
    (out / "passk/checkpoint-1").mkdir()  # training checkpoints are not copied
    argv = ["submit", "--leaderboard", settings.requests, "--model", str(out / "passk")]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    request = list_requests(settings.requests)[0]
    digest = hub.weights_sha256(out / "passk")
    assert request.model == f"local/passk-{digest[:8]}" and request.revision == f"sha256-{digest[:16]}"
    assert f"✅ Submitted {request.model}" in printed
    stored = world / "models" / request.model.split("/")[1]
    assert (stored / "model.safetensors").is_file() and not (stored / "checkpoint-1").exists()
    shutil.copytree(out / "passk", out / "renamed")
    assert main([*argv[:-1], str(out / "renamed")]) == 2
    assert "already submitted" in capsys.readouterr().err
    assert main([*argv[:-1], "./no/such/folder"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert process_once(settings).status == "FINISHED"
    # a Hub leaderboard cannot read this machine's folders
    assert main(["submit", "--leaderboard", "http://127.0.0.1:9/", "--model", str(out / "passk")]) == 2
    assert "push it first" in capsys.readouterr().err


# Words of the leaderboard's header cells whose letters the browser laid out on more than one line.
BROKEN_HEADER_WORDS = """
const broken = [];
for (const th of document.querySelectorAll('#leaderboard-table th')) {
  const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const m of node.textContent.matchAll(/\\S+/g)) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
      if (tops.size > 1) broken.push(m[0]);
    }
  }
}
return broken;
"""


@pytest.mark.slow
def test_browser_shows_the_page_as_a_person_sees_it(served, tmp_path):
    """The page in headless Chromium: rows with `score ± SE`, headers that never break inside a word, "1
    evaluation", an empty "Your name" with a placeholder, a submission that appears in the Queue tab without
    Refresh, the same weights refused under another revision, and the pass@k plot."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from trl_ext.leaderboard.browser import chromium_available, headless_chrome, wait_for_rows

    if not chromium_available():
        pytest.skip(
            "chromium and chromium-driver are not installed (make test installs them with apt-get when it can)"
        )
    settings, url = served
    driver = headless_chrome()
    wait = WebDriverWait(driver, 60)

    def tab(name):
        button = next(b for b in driver.find_elements(By.CSS_SELECTOR, "button[role=tab]") if b.text == name)
        button.click()

    def field(elem_id):
        return driver.find_element(By.CSS_SELECTOR, f"#{elem_id} textarea, #{elem_id} input")

    try:
        driver.set_window_size(1000, 900)  # narrow enough that the headers must wrap
        driver.get(url)
        table = wait_for_rows(driver, "local/tiny").replace("\n", " ")
        for column in ("Rank", "Average pass@1 (% ± SE)", "pbe/demo pass@1 (% ± SE)"):
            assert column in table
        assert " ± " in table.split("pbe/demo", 1)[1]  # the scores carry their standard error
        assert driver.execute_script(BROKEN_HEADER_WORDS) == []
        stamp = driver.find_element(By.ID, "last-updated").text
        assert stamp.startswith("Last updated: 20") and stamp.endswith("· 1 evaluation")
        driver.save_screenshot(str(tmp_path / "leaderboard.png"))

        tab("Submit")
        name = field("submitter")
        assert name.get_attribute("value") == "" and name.get_attribute("placeholder") == "anonymous"
        name.send_keys("newcomer")
        assert name.get_attribute("value") == "newcomer"
        field("model-id").send_keys("local/tiny-v7")
        driver.find_element(By.ID, "submit-button").click()
        wait.until(lambda d: "Submitted local/tiny-v7" in d.find_element(By.ID, "submit-message").text)
        tab("Queue")  # refreshed by the submission itself: no Refresh click
        wait.until(lambda d: "local/tiny-v7" in d.find_element(By.ID, "queue-table").text)
        assert next(r for r in list_requests(settings.requests) if r.model == "local/tiny-v7").submitter == (
            "newcomer"
        )

        tab("Submit")  # the same weights under a new free-text revision: the same model
        revision = driver.find_element(By.CSS_SELECTOR, "#revision textarea, #revision input")
        revision.clear()
        revision.send_keys("another-name")
        driver.find_element(By.ID, "submit-button").click()
        wait.until(lambda d: "already submitted" in d.page_source)
        assert sum(r.model == "local/tiny-v7" for r in list_requests(settings.requests)) == 1

        tab("Plots")
        wait.until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#passk-plot img, #passk-plot canvas, #passk-plot svg")
        )
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
        (): "a first deploy needs at least one --benchmark",
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
    # deploying again (as deploy suggests, for --set-token) keeps the deployed settings
    capsys.readouterr()
    assert main(["leaderboard", "--deploy", "tester/board", "--set-token"]) == 0
    assert secrets == {("tester/board", "HF_TOKEN"): "hf_loopback_test_token"}
    assert "settings unchanged" in capsys.readouterr().out
    assert settings_io.load("tester/board-requests") == settings
    # a flag changes only its setting, and the change is printed
    assert main(["leaderboard", "--deploy", "tester/board", "--k", "1,2"]) == 0
    assert "~ tester/pbe/demo ks: [1, 4, 8] -> [1, 2]" in capsys.readouterr().out
    changed = settings_io.load("tester/board-requests").benchmarks[0]
    assert (changed.ks, changed.samples, changed.max_new_tokens) == ([1, 2], 4, 512)


def _space_env(loopback_hub, tmp_path, port: int) -> dict:
    """The environment a Space gets (SYSTEM, SPACE_ID, the OAuth variables of `hf_oauth: true`, its HF_TOKEN
    secret), pointed at the loopback Hub and listening on 127.0.0.1."""
    return {
        **os.environ,
        "SYSTEM": "spaces",
        "SPACE_ID": "tester/board",
        "OAUTH_CLIENT_ID": "loopback-client",
        "OAUTH_CLIENT_SECRET": "loopback-secret",
        "OAUTH_SCOPES": "openid profile",
        "OPENID_PROVIDER_URL": loopback_hub.endpoint,
        "HF_TOKEN": "hf_loopback_test_token",  # the Space's secret: it writes the requests
        "HF_ENDPOINT": loopback_hub.endpoint,
        "HF_HUB_OFFLINE": "0",
        "HF_HUB_DISABLE_XET": "1",
        "HF_HOME": str(tmp_path / "space-home"),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
    }


def _wait_until_serving(process, url: str, log: Path, timeout: float = 180) -> None:
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the Space exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"the Space did not start: {log.read_text()[-3000:]}")


@pytest.mark.hub
@pytest.mark.slow
def test_cli_submits_to_a_space_with_the_users_token(loopback_hub, world, tmp_path, monkeypatch, capfd):
    """The deployed Space, run as a Space runs it (SYSTEM=spaces, SPACE_ID, OAuth variables) against the loopback
    Hub: `trl-ext submit` sends the user's own token through gradio_client, the Space identifies the account with
    the Hub's whoami, the daily limit counts per account, and the token is neither stored nor logged (the backend
    evaluating such a queue: tests/test_readme.py)."""
    loopback_hub.state.accounts.update({"hf_alice_secret_1": "alice", "hf_bob_secret_2": "bob"})
    built = hub_datasets.build("pbe", "demo", n=8, n_test=3, seed=0)
    hub.push_dataset(
        built.dataset, "tester/pbe", "demo", card_meta=built.card_meta, card_body=built.card_body
    )
    hub.upload_folder(world / "models/tiny", "tester/tiny", repo_type="model")
    sha = hub.head_commit("tester/tiny", repo_type="model")
    argv = ["leaderboard", "--deploy", "tester/board", "--benchmark", "tester/pbe:demo"]
    assert main([*argv, "--samples", "2", "--k", "1,2", "--max-new-tokens", "4"]) == 0
    settings_io.save(replace(settings_io.load("tester/board-requests"), daily_limit=1))
    space = tmp_path / "space"
    for path in hub.list_files("tester/board", repo_type="space"):
        (space / path).parent.mkdir(parents=True, exist_ok=True)
        (space / path).write_text(hub.read_text("tester/board", path, repo_type="space"))
    port, log = free_port(), tmp_path / "space.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "app.py"], cwd=space, stdout=out, stderr=subprocess.STDOUT,
            env={**_space_env(loopback_hub, tmp_path, port), "PYTHONPATH": str(space)},
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_serving(process, url, log)
        submit = ["submit", "--leaderboard", url, "--model", "tester/tiny", "--send-token"]
        monkeypatch.setenv("HF_TOKEN", "hf_alice_secret_1")
        assert main(submit) == 0, capfd.readouterr().err
        assert "✅ Submitted tester/tiny (main, float32)" in capfd.readouterr().out
        assert main([*submit, "--revision", sha]) == 2  # the daily limit of the account
        assert "account 'alice' reached its limit of 1 submissions per day" in capfd.readouterr().err
        monkeypatch.setenv("HF_TOKEN", "hf_bob_secret_2")
        assert main([*submit, "--revision", sha, "--submitter", "mallory"]) == 0
        monkeypatch.setenv("HF_TOKEN", "hf_not_a_token")
        assert main([*submit, "--revision", sha, "--precision", "bfloat16"]) == 2
        assert "the Hub refused this token" in capfd.readouterr().err
        assert main(submit[:-1]) == 2  # no token sent (a URL gets it only with --send-token)
        assert "Sign in with your Hugging Face account" in capfd.readouterr().err
    finally:
        process.terminate()
        process.wait(30)
    requests = list_requests("tester/board-requests")
    assert sorted((r.submitter, r.revision) for r in requests) == [("alice", "main"), ("bob", sha)]
    stored = b"".join(
        content
        for repo in loopback_hub.state.repos.values()
        for c in repo.commits
        for content, _ in c.files.values()
    )
    logged = log.read_text()
    for token in ("hf_alice_secret_1", "hf_bob_secret_2", "hf_not_a_token"):
        assert token.encode() not in stored and token not in logged


@pytest.mark.hub
def test_hub_queue_is_atomic_under_concurrency(loopback_hub, world):
    """Concurrent submissions to a requests dataset on the Hub: the checks and the write are one optimistic
    commit (parent_commit; the Hub answers 412 to a stale one), so N submissions of one model give exactly one
    request, and the daily limit holds."""
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import HfHubHTTPError

    hub.upload_folder(world / "models/tiny", "tester/tiny", repo_type="model")
    bench = Benchmark(dataset="tester/pbe", config="demo")
    settings = Settings(
        requests="tester/q-requests", results="tester/q-results", benchmarks=[bench], daily_limit=3
    )
    settings_io.save(settings)
    # the server side: a commit on a stale parent is refused with the Hub's 412
    stale = hub.head_commit(settings.requests)
    hub.write_text(settings.requests, "note.txt", "moved on")
    with pytest.raises(HfHubHTTPError) as refused:
        HfApi().create_commit(
            settings.requests, [CommitOperationAdd("x.txt", b"x")], commit_message="x", repo_type="dataset",
            parent_commit=stale,
        )  # fmt: skip
    assert refused.value.response.status_code == 412
    with pytest.raises(hub.HubConflict):
        hub.write_text(settings.requests, "x.txt", "x", parent_commit=stale)

    def race(calls):
        outcomes, barrier = [], threading.Barrier(len(calls))

        def one(kwargs):
            barrier.wait()
            try:
                outcomes.append(submit(settings, "tester/tiny", **kwargs).id)
            except SubmissionError as err:
                outcomes.append(str(err))

        threads = [threading.Thread(target=one, args=(kwargs,)) for kwargs in calls]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return outcomes

    outcomes = race([{}] * 5)
    assert len(list_requests(settings.requests)) == 1
    assert sum("already submitted" in o for o in outcomes) == 4
    precisions = ["bfloat16", "float16", "4bit", "bfloat16", "float16"]
    outcomes = race([{"precision": p, "revision": "main"} for p in precisions])
    assert len(list_requests(settings.requests)) == 3  # the limit: 3 per organisation per day
    assert sum("reached its limit of 3" in o for o in outcomes) + sum("already" in o for o in outcomes) == 3


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
