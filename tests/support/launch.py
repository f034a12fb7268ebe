"""Service processes for the tests, forked from a process that has imported them once.

A service of the tests was ``python -m autonama_<name>``: 0.8-1.6 CPU-s of imports each
time (FastAPI, pydantic, numpy, aiokafka, python-binance), for a couple of hundred
processes a run on two cores. Here a multiprocessing forkserver imports the services'
modules once per pytest process; each start forks it and runs the module's ``__main__``
as ``python -m`` does: its own process (a pid to kill -9), environment, working directory
and log, the service's own ``main()``. What differs from an exec is only how the
interpreter got there; ``python -m`` itself is still what the local stack, supervisord,
docker-compose and the tests of the entry points run.
"""

from __future__ import annotations

import atexit
import multiprocessing
import multiprocessing.process
import os
import runpy
import signal
import subprocess
import sys
from pathlib import Path

__all__ = ["Launched", "launch"]

#: The modules each service's ``__main__`` imports, imported once by the forkserver.
PRELOAD = [
    "autonama_alerts_api.__main__",
    "autonama_alerts_api.app",
    "autonama_analyzer.__main__",
    "autonama_fetcher.__main__",
    "autonama_ingestor.__main__",
    "autonama_notifier.__main__",
]

#: The checkout: a forked process imports ``_serve`` from here by name (the tests run with
#: pytest's importlib mode, which does not put it on the path).
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.append(_ROOT)

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(PRELOAD)


def _serve(module: str, env: dict[str, str], cwd: str, log: str) -> None:
    """In the forked process: become ``python -m module`` with ``env`` in ``cwd``, its
    output appended to ``log``."""
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    os.close(stdin)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - fd 0, the process's own
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    # as a process started by exec: no multiprocessing parent (the API's workers ask for
    # theirs to die with it)
    multiprocessing.process._parent_process = None  # type: ignore[attr-defined]
    # daemonic only to the test process (stopped when it exits): the service may start
    # processes of its own (the API's workers)
    multiprocessing.current_process()._config["daemon"] = False  # type: ignore[attr-defined]
    sys.argv = [module]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


class Launched:
    """A launched service, with the part of ``subprocess.Popen`` the tests use."""

    def __init__(self, process: multiprocessing.process.BaseProcess) -> None:
        self._process = process

    @property
    def pid(self) -> int:
        pid = self._process.pid
        assert pid is not None
        return pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        code = self._process.exitcode
        if code is None:
            raise subprocess.TimeoutExpired(self._process.name or "service", timeout or 0)
        return code

    def send_signal(self, sig: int) -> None:
        if self._process.exitcode is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


#: The services launched by this test process and running at the last launch, for
#: ``_kill_left`` (those that ended are let go: each holds a pipe to its process until
#: it is collected).
_LAUNCHED: list[Launched] = []


@atexit.register
def _kill_left() -> None:
    """When the test process ends, SIGKILL to the services still running (a test that left
    one): multiprocessing's own exit would send SIGTERM and then wait on each without a
    time limit. (atexit runs this before multiprocessing's, registered earlier.)"""
    for launched in _LAUNCHED:
        launched.kill()


def launch(module: str, env: dict[str, str], log: Path, cwd: Path | None = None) -> Launched:
    """Start ``python -m module`` (forked from the preloaded server) with exactly ``env``."""
    process = _CONTEXT.Process(
        target=_serve,
        args=(module, dict(env), str(cwd or Path.cwd()), str(log)),
        name=module,
        daemon=True,  # a service a test leaves running is stopped when the test process ends
    )
    process.start()
    launched = Launched(process)
    _LAUNCHED[:] = [*(left for left in _LAUNCHED if left.poll() is None), launched]
    return launched
