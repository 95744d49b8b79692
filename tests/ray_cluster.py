"""A local Ray cluster for the tests: `ray start --head` plus a second worker node, on 127.0.0.1 at free ports,
one CPU and a small object store each, no dashboard; each `ray start --block` leads its own process group, which
`stop` ends (only the processes this helper started)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))
NODE = ["--block", "--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--object-store-memory", "80000000"]
NODE += ["--disable-usage-stats"]
# The same in the cluster and the test's driver, whatever ~/.ray holds (Ray >= 2.50 turns token auth on when it
# finds a token there): a throwaway loopback cluster.
ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalRayCluster:
    def __init__(self, nodes: int = 2):
        self.port, self.nodes = _free_port(), nodes
        self.temp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths have a length limit
        self.processes: list[subprocess.Popen] = []
        self.address = f"127.0.0.1:{self.port}"

    def _start(self, *args: str) -> None:
        env = {**os.environ, **ENV, "PYTHONPATH": str(ROOT)}
        self.processes.append(
            subprocess.Popen(
                [RAY, "start", *args, *NODE],
                env=env,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )

    def start(self, timeout: float = 120.0) -> LocalRayCluster:
        self._start(
            "--head", "--port", str(self.port), "--include-dashboard", "false", "--temp-dir", self.temp
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.processes[0].poll() is not None:
                    self.stop()
                    raise RuntimeError("the Ray head did not start") from None
                time.sleep(0.2)
        for _ in range(self.nodes - 1):
            self._start("--address", self.address)
        return self

    def wait_for_nodes(self, timeout: float = 120.0) -> None:
        """Block until every node is alive (in a process connected with `ray.init(address=self.address)`)."""
        import ray

        deadline = time.monotonic() + timeout
        while sum(node["Alive"] for node in ray.nodes()) < self.nodes:
            if time.monotonic() > deadline:
                raise RuntimeError("the Ray worker node did not join")
            time.sleep(0.2)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)  # the node's processes: this group only
            process.wait()
        shutil.rmtree(self.temp, ignore_errors=True)
