"""`trl-ext sandbox serve`: SandboxFusion's /run_code as the official `sandbox-fusion` client calls it, our batch
endpoints, backpressure, the bearer token and the refusal to bind a public address without one. Every server
runs on 127.0.0.1 at a free port and is stopped by its fixture."""

from __future__ import annotations

import base64
import concurrent.futures
import socket
import time

import httpx
import pytest
from sandbox_fusion import RunCodeRequest, run_code

from trl_ext.cli import main
from trl_ext.execution.server import spawn, stop


@pytest.fixture(scope="module")
def server():
    process, url = spawn("--workers", "1", "--capacity", "1")
    try:
        yield url
    finally:
        stop(process)


@pytest.fixture(scope="module")
def token_server(tmp_path_factory):
    token_file = tmp_path_factory.mktemp("token") / "token"
    token_file.write_text("s3cret-token\n")
    process, url = spawn("--workers", "1", "--token-file", str(token_file))
    try:
        yield url
    finally:
        stop(process)


def _run(url, **fields):
    return run_code(RunCodeRequest(language="python", **fields), endpoint=url, max_attempts=1)


def test_official_client_success_failure_and_time_limit(server):
    ok = _run(server, code="print(input()[::-1])", stdin="abc")
    assert ok.status == "Success" and ok.run_result.status == "Finished"
    assert ok.run_result.stdout == "cba\n" and ok.run_result.return_code == 0
    assert ok.run_result.execution_time > 0
    failed = _run(server, code="import sys\nprint('x', file=sys.stderr)\nsys.exit(3)")
    assert failed.status == "Failed" and failed.run_result.return_code == 3
    assert failed.run_result.stderr == "x\n"
    slow = _run(server, code="while True: pass", run_timeout=0.5)
    assert slow.status == "Failed" and slow.run_result.status == "TimeLimitExceeded"


def test_official_client_files_and_fetch_files(server):
    response = _run(
        server,
        code="data = open('in/data.txt').read()\nopen('out.txt', 'w').write(data.upper())\nprint(len(data))",
        files={"in/data.txt": base64.b64encode(b"hello").decode()},
        fetch_files=["out.txt", "missing.txt"],
    )
    assert response.status == "Success" and response.run_result.stdout == "5\n"
    assert base64.b64decode(response.files["out.txt"]) == b"HELLO" and "missing.txt" not in response.files
    assert "trl-ext-files" not in (response.run_result.stderr or "")


def test_other_languages_and_bad_requests_are_refused_clearly(server):
    with pytest.raises(Exception, match="only 'python'"):  # the client raises on any non-200 answer
        run_code(RunCodeRequest(language="cpp", code="int main() {}"), endpoint=server, max_attempts=1)
    response = httpx.post(
        f"{server}/run_code", json={"code": "print(1)", "language": "python", "run_timeout": -1}
    )
    assert response.status_code == 422 and "run_timeout" in response.json()["detail"]
    response = httpx.post(f"{server}/run_code", content=b"not json")
    assert response.status_code == 422
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:  # a 300 MiB body, announced only
        raw.sendall(
            f"POST /run_code HTTP/1.1\r\nHost: {host}\r\nContent-Length: {300 << 20}\r\n\r\n".encode()
        )
        assert raw.recv(100).startswith(b"HTTP/1.1 413")


def test_batch_endpoint_judges_on_the_server(server):
    jobs = [
        {
            "code": "print(int(input()) * 2)",
            "tests": [{"input": "2", "output": "4"}, {"input": "5", "output": "9"}],
        },
        {
            "code": "def f(x):\n    return (x, [x])",
            "tests": [{"input": "[1]", "output": "[1, [1]]"}],
            "fn_name": "f",
        },
        {
            "code": "def inc(x):\n    return x + 1",
            "test_code": "def check(candidate):\n    assert candidate(1) == 2\n",
            "fn_name": "inc",
        },
    ]
    results = httpx.post(f"{server}/trl_ext/v1/run_tests_batch", json={"jobs": jobs}, timeout=60).json()[
        "results"
    ]
    assert [[t["status"] for t in r["results"]] for r in results] == [["ok", "wrong_answer"], ["ok"], ["ok"]]
    bad = httpx.post(f"{server}/trl_ext/v1/run_tests_batch", json={"jobs": [{"code": "x", "tests": []}]})
    assert bad.status_code == 422 and "at least one test" in bad.json()["detail"]


def test_backpressure_answers_429_with_retry_after(server):
    slow = {"code": "import time\ntime.sleep(1.5)", "language": "python"}
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        responses = list(
            pool.map(lambda _: httpx.post(f"{server}/run_code", json=slow, timeout=30), range(3))
        )
    codes = sorted(r.status_code for r in responses)
    assert codes[0] == 200 and 429 in codes  # capacity 1: one runs, the others are turned away at once
    busy = next(r for r in responses if r.status_code == 429)
    assert busy.headers["Retry-After"] == "1"
    health = httpx.get(f"{server}/health").json()
    assert health["server"] == "trl-ext" and health["capacity"] == 1 and health["in_flight"] == 0


def test_the_client_waits_out_backpressure(server):
    from trl_ext.execution.remote import SandboxFusionBackend

    slow = {"code": "import time\ntime.sleep(1.5)", "language": "python"}
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        occupying = pool.submit(httpx.post, f"{server}/run_code", json=slow, timeout=30)
        time.sleep(0.5)  # the server's one slot is taken: the client's request is answered 429 first
        backend = SandboxFusionBackend([server])
        try:
            start = time.monotonic()
            [result] = backend.run_tests_batch(
                [{"code": "print(input())", "tests": [{"input": "a", "output": "a"}]}]
            )
            waited = time.monotonic() - start
        finally:
            backend.close()
        assert occupying.result().status_code == 200
    assert result.passed and waited >= 0.5  # it waited for the slot (Retry-After), then ran: not an error


def test_bearer_token(token_server):
    assert httpx.get(f"{token_server}/health").status_code == 200  # open: load balancers probe it
    job = {"code": "print(1)", "language": "python"}
    assert httpx.post(f"{token_server}/run_code", json=job).status_code == 401
    unread = httpx.post(f"{token_server}/trl_ext/v1/run_batch", content=b"not even JSON")
    assert unread.status_code == 401  # refused before its body is read
    wrong = httpx.post(f"{token_server}/run_code", json=job, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = httpx.post(f"{token_server}/run_code", json=job, headers={"Authorization": "Bearer s3cret-token"})
    assert right.status_code == 200 and right.json()["run_result"]["stdout"] == "1\n"
    from trl_ext.execution.remote import RemoteSettings, SandboxFusionBackend

    for token, works in (("s3cret-token", True), ("nope", False)):
        backend = SandboxFusionBackend([token_server], RemoteSettings(token=token))
        try:
            if works:
                assert backend.run_batch([{"code": "print(2)"}])[0].stdout == "2\n"
            else:
                with pytest.raises(PermissionError, match="refused the token"):
                    backend.run_batch([{"code": "print(2)"}])
        finally:
            backend.close()


def test_public_bind_without_token_is_refused(capsys):
    assert main(["sandbox", "serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "refusing to serve on 0.0.0.0 without a token" in err and "--insecure-no-token" in err


def test_a_pool_that_cannot_run_jobs_answers_503():
    from starlette.testclient import TestClient

    from trl_ext.execution import Sandbox
    from trl_ext.execution.server import create_app

    sandbox = Sandbox(1)
    sandbox.close()  # as during shutdown
    with TestClient(create_app(sandbox)) as client:
        for path, body in (
            ("/run_code", {"code": "print(1)", "language": "python"}),
            ("/trl_ext/v1/run_batch", {"jobs": [{"code": "print(1)"}]}),
        ):
            response = client.post(path, json=body)
            assert response.status_code == 503 and response.headers["Retry-After"] == "1", path
