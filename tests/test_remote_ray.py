"""The `ray` backend on a real local Ray cluster (a head and a second worker node, started and stopped here):
actors placed on both nodes by Ray, verdicts equal to the local pool's, a killed actor's jobs re-run, and no
live actor → `sandbox_error` (unscorable)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from ray_cluster import ENV, LocalRayCluster

from trl_ext.execution import backends, run_tests_batch
from trl_ext.execution.ray_backend import RaySettings
from trl_ext.rewards.code import score as code_score

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

# Ray 2.60's gcs_server and raylet listen on every interface whatever `--node-ip-address` says (checked with `ss`).
# So, where we may (root, with unshare and ip), the cluster and its test run in a network namespace of their own
# whose only interface is loopback; elsewhere the test runs here.
INSIDE = "TRL_EXT_RAY_TEST_IN_PRIVATE_NETWORK"
PRIVATE_NETWORK = os.geteuid() == 0 and shutil.which("unshare") and shutil.which("ip")
RUN_HERE = os.environ.get(INSIDE) == "1" or not PRIVATE_NETWORK

JOBS = [
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
    {
        "code": "def inc(x):\n    return x",
        "test_code": "def check(c):\n    assert c(1) == 2\n",
        "fn_name": "inc",
    },
    {"code": "while True: pass", "tests": [{"input": "", "output": ""}], "timeout": 0.5},
]


@pytest.fixture(scope="module")
def cluster():
    saved = {name: os.environ.get(name) for name in ENV}
    os.environ.update(ENV)  # for this process's driver too (read when ray.init connects)
    cluster = LocalRayCluster(nodes=2).start()
    try:
        yield cluster
    finally:
        cluster.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.mark.skipif(not PRIVATE_NETWORK or os.environ.get(INSIDE) == "1", reason="needs root, unshare and ip")
def test_ray_cluster_in_a_private_network_namespace():
    script = 'ip link set lo up && exec "$0" -m pytest -q -p no:cacheprovider "$1"'
    done = subprocess.run(
        ["unshare", "--net", "sh", "-c", script, sys.executable, __file__],
        env={**os.environ, INSIDE: "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0 and "\n1 passed" in "\n" + done.stdout, (
        done.stdout[-4000:] + done.stderr[-2000:]
    )


@pytest.mark.skipif(not RUN_HERE, reason="runs inside the private network namespace (the test above)")
def test_ray_actors_on_two_nodes_judge_and_survive_a_dead_actor(cluster):
    local = [[t.status for t in r.results] for r in run_tests_batch(JOBS)]
    ray.init(address=cluster.address, log_to_driver=False)
    backends.configure(f"ray={cluster.address};max_attempts=4")  # a setting in the spec
    try:
        cluster.wait_for_nodes()
        backend = backends.remote_backend()
        assert backend.settings == RaySettings(max_attempts=4)
        assert len(backend.actors) == 2  # one per CPU of the cluster
        nodes = ray.get([actor.node_id.remote() for actor in backend.actors])
        assert len(set(nodes)) == 2, "Ray's SPREAD placement should use both nodes"
        assert [[t.status for t in r.results] for r in run_tests_batch(JOBS)] == local

        jobs = [
            {
                "code": "import time\ntime.sleep(0.05)\nprint(input())",
                "tests": [{"input": str(i), "output": str(i)}],
            }
            for i in range(24)
        ]
        killer = threading.Timer(0.3, ray.kill, args=(backend.actors[0],))
        killer.start()
        results = run_tests_batch(jobs)
        killer.join()
        assert backend.alive == {1}, "the killed actor should have been noticed during the batch"
        assert all(r.passed for r in results)

        ray.kill(backend.actors[1])
        [lost] = run_tests_batch(jobs[:1])
        assert lost.status == "sandbox_error"
        assert code_score(["print(1)"], [{"public_tests": [{"input": "", "output": "1"}]}]) == [None]
    finally:
        backends.configure(None)
        backends.close()
        ray.shutdown()
