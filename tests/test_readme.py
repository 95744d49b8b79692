"""The README's user path, run as printed: the command block of "The command line" goes line by line through the
real CLI against the loopback Hub server (tests/hub_server.py) with the real huggingface_hub, datasets and
gradio_client clients. The upstream dataset the README converts (`deepmind/code_contests`) is seeded from a fixture,
and the deployed Space runs as a Space runs (its own files from the Hub, SYSTEM=spaces, OAuth variables), where the
Hub says it is, so `trl-ext submit --leaderboard me/leaderboard` finds it through gradio_client as on the Hub."""

import logging
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trl_ext import hub
from trl_ext.cli import main
from trl_ext.leaderboard.submissions import list_requests

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"


def user_path_commands() -> list[list[str]]:
    """The `trl-ext` lines of the first command block of the README's "The command line" section."""
    section = (ROOT / "README.md").read_text().split("\n## The command line\n", 1)[1].split("\n## ", 1)[0]
    lines = section.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("    trl-ext "))
    block = []
    for line in lines[start:]:
        if not line.startswith("    "):
            break
        block.append(shlex.split(line, comments=True))
    return block


def test_the_user_path_block_is_found():
    verbs = [argv[1] for argv in user_path_commands()]
    assert verbs == [
        "build-dataset",
        "build-dataset",
        "train",
        "evaluate",
        "leaderboard",
        "submit",
        "backend",
        "env",
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_space(loopback_hub, space_id: str, folder: Path, log: Path) -> subprocess.Popen:
    """Run the deployed Space from its files on the Hub, as a Space runs it, and tell the Hub where it is."""
    for path in hub.list_files(space_id, repo_type="space"):
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(hub.read_text(space_id, path, repo_type="space"))
    port = _free_port()
    env = {
        **os.environ,
        "SYSTEM": "spaces",
        "SPACE_ID": space_id,
        "OAUTH_CLIENT_ID": "loopback-client",
        "OAUTH_CLIENT_SECRET": "loopback-secret",
        "OAUTH_SCOPES": "openid profile",
        "OPENID_PROVIDER_URL": loopback_hub.endpoint,
        "HF_TOKEN": "hf_loopback_test_token",  # the Space's HF_TOKEN secret
        "HF_ENDPOINT": loopback_hub.endpoint,
        "HF_HUB_OFFLINE": "0",
        "HF_HUB_DISABLE_XET": "1",
        "HF_HOME": str(folder.parent / "space-home"),
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PORT": str(port),
        "PYTHONPATH": str(folder),
    }
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "app.py"], cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    import httpx

    url, deadline = f"http://127.0.0.1:{port}", time.time() + 180
    while time.time() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            if httpx.get(url + "/", timeout=2).status_code == 200:
                loopback_hub.state.space_hosts[space_id] = url
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    raise AssertionError(f"the Space did not start: {log.read_text()[-3000:]}")


@pytest.mark.slow
@pytest.mark.hub
def test_readme_user_path_runs_as_printed(loopback_hub, tmp_path, monkeypatch, capfd, caplog):
    from datasets import Dataset, DatasetDict

    loopback_hub.state.accounts["hf_me_user_token"] = "me"
    monkeypatch.setenv("HF_TOKEN", "hf_me_user_token")  # the user `me`, logged in
    upstream = Dataset.from_json(str(FIXTURES / "codecontests.jsonl"))
    DatasetDict(test=upstream).push_to_hub("deepmind/code_contests")
    work = tmp_path / "work"
    shutil.copytree(ROOT / "recipes", work / "recipes")  # a checkout's recipes, at the README's relative path
    monkeypatch.chdir(work)
    space = None
    try:
        for argv in user_path_commands():
            if argv[1] == "submit" and space is None:
                space = _start_space(
                    loopback_hub, "me/leaderboard", tmp_path / "space", tmp_path / "space.log"
                )
            if argv[1] == "backend":  # what its log shows: its own INFO lines, none of the HTTP clients'
                caplog.set_level(logging.INFO)
                caplog.clear()  # only the backend's records
            code = main(argv[1:])
            printed = capfd.readouterr()
            assert code == 0, f"{shlex.join(argv)} -> {code}\n{printed.out[-2000:]}\n{printed.err[-3000:]}"
            if argv[1] == "submit":
                assert "✅ Submitted me/coder-passk" in printed.out
            if argv[1] == "backend":
                assert "me/coder-passk" in printed.out and ": FINISHED" in printed.out
                assert any("evaluating me/coder-passk" in r.getMessage() for r in caplog.records)
                assert not [r.getMessage() for r in caplog.records if "HTTP Request" in r.getMessage()]
    finally:
        if space is not None:
            space.terminate()
            space.wait(30)
    (request,) = list_requests("me/leaderboard-requests")
    assert request.submitter == "me" and request.status == "FINISHED"
    (results,) = hub.list_files("me/leaderboard-results")
    metrics = hub.read_json("me/leaderboard-results", results)["results"]["me/pbe-demo/demo"]
    assert set(metrics) >= {"pass@1", "pass@4"}
    assert hub.exists("me/code-contests", repo_type="dataset")
    assert "hf_me_user_token" not in (tmp_path / "space.log").read_text()
