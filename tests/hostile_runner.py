"""Runs a sequence of jobs on ONE sandbox worker and prints a JSON report; the security tests start it inside
a pids- and memory-limited guard cgroup, so that a containment regression fails a test instead of the host.

    python hostile_runner.py '<json list of jobs>' <guard pids cgroup dir>

A job is a dict of `run` arguments (`code`, `stdin`, limits), of `run_tests` arguments (with `tests` or
`test_code`), or `{"batch": [run_tests arguments, ...]}` for one `run_tests_batch` call. The report: per job its status (and outputs), the uids the worker's processes have on the host,
the guard's process counts before and after, and what a fresh run sees in /tmp and /dev/shm afterwards.
"""

import json
import sys
from pathlib import Path

from trl_ext.execution import Sandbox, run, run_tests, run_tests_batch


def _procs(cgroup_dir: str) -> int:
    return len(Path(cgroup_dir, "cgroup.procs").read_text().split())


def _host_uids(box: Sandbox) -> list[int]:
    """Real uids (host view) of every process in the worker's cgroups."""
    uids = set()
    for worker in list(box._idle.queue):
        for directory in worker.cgroup.dirs if worker is not None else []:
            for pid in (directory / "cgroup.procs").read_text().split():
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                uids.add(
                    int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
                )
    return sorted(uids)


def _summary(job: dict, box: Sandbox) -> dict:
    if "batch" in job:  # run_tests jobs in one run_tests_batch call
        return {"passed": [r.passed for r in run_tests_batch(job["batch"], sandbox=box)]}
    if "tests" in job or "test_code" in job:
        result = run_tests(sandbox=box, stop_on_failure=False, **job)
        return {
            "status": result.status,
            "passed": result.passed,
            "statuses": [r.status for r in result.results],
            "got": [r.got for r in result.results],
            "stderr": "\n".join(r.stderr for r in result.results)[-4000:],
        }
    result = run(sandbox=box, **job)
    return {
        "status": result.status,
        "stdout": result.stdout[-4000:],
        "stderr": result.stderr[-4000:],
        "wall_time": result.wall_time,
        "cpu_time": result.cpu_time,
    }


def main() -> None:
    jobs, guard = json.loads(sys.argv[1]), sys.argv[2]
    with Sandbox(num_workers=1, isolation="bwrap") as box:
        warm = run("print('warm')", sandbox=box)
        host_uids = _host_uids(box)
        before = _procs(guard)
        results = [_summary(job, box) for job in jobs]
        after = _procs(guard)
        again = run("import os; print(sorted(os.listdir('/tmp')), os.listdir('/dev/shm'))", sandbox=box)
    report = {
        "results": results,
        "host_uids": host_uids,
        "procs_before": before,
        "procs_after": after,
        "warm": warm.stdout,
        "again": again.stdout,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
