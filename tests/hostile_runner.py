"""Runs one program in a one-worker sandbox and prints a JSON report; the security tests start it inside a
pids- and memory-limited guard cgroup, so that a containment regression fails a test instead of the host."""

import json
import sys
from pathlib import Path

from trl_ext.execution import Sandbox, run


def _procs(cgroup_dir: str) -> int:
    return len(Path(cgroup_dir, "cgroup.procs").read_text().split())


def main() -> None:
    code, timeout, guard = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    with Sandbox(num_workers=1, isolation="bwrap") as box:
        warm = run("print('warm')", sandbox=box)
        before = _procs(guard)
        result = run(code, timeout=timeout, memory_mb=256, sandbox=box)
        after = _procs(guard)
        again = run("import os; print(sorted(os.listdir('/tmp')), os.listdir('/dev/shm'))", sandbox=box)
    report = {
        "status": result.status,
        "stdout": result.stdout[-4000:],
        "stderr": result.stderr[-4000:],
        "wall_time": result.wall_time,
        "procs_before": before,
        "procs_after": after,
        "warm": warm.stdout,
        "again": again.stdout,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
