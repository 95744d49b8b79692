"""The base of the non-local execution backends (`remote.py`, `ray_backend.py`): coroutines on a loop of its own."""

from __future__ import annotations

import asyncio
import threading


class AsyncBackend:
    """Base of the non-local backends: the work runs as coroutines on the backend's own event loop (a daemon
    thread), so sync callers (`judge.run_batch`) and async callers on any other loop share one client."""

    name = "remote"

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"{self.name}-loop", daemon=True)
        self._thread.start()

    async def _run_batch(self, jobs: list[dict]) -> list:  # on the backend's loop
        raise NotImplementedError

    async def _run_tests_batch(self, jobs: list[dict]) -> list:
        raise NotImplementedError

    def _submit(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def run_batch(self, jobs: list[dict]) -> list:
        return self._submit(self._run_batch(jobs)).result() if jobs else []

    def run_tests_batch(self, jobs: list[dict]) -> list:
        return self._submit(self._run_tests_batch(jobs)).result() if jobs else []

    async def arun_batch(self, jobs: list[dict]) -> list:
        return await asyncio.wrap_future(self._submit(self._run_batch(jobs))) if jobs else []

    async def arun_tests_batch(self, jobs: list[dict]) -> list:
        return await asyncio.wrap_future(self._submit(self._run_tests_batch(jobs))) if jobs else []

    async def _aclose(self) -> None:
        pass

    def close(self) -> None:
        if self._loop.is_closed():
            return
        if self._thread.is_alive():
            self._submit(self._aclose()).result(timeout=30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
        self._loop.close()
