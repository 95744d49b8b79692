"""The `ray` backend: Ray actors, each owning a local sandbox pool on its node, placed by Ray's own scheduler.

`ray` joins the cluster of `RAY_ADDRESS` (else starts a local one); `ray=ADDRESS` joins that cluster. The
backend starts one actor per `cpus_per_actor` CPUs of the cluster (spread over the nodes by Ray's `SPREAD`
strategy); each actor owns a `Sandbox` with that many workers on its node, so every guarantee of the local
sandbox holds there. Jobs travel in chunks; a chunk whose actor died (its node lost, or killed) is re-run on
another actor, and jobs that no actor could run end in `sandbox_error`. The nodes need trl-ext installed
(as the trainer has it). Same async interface as the other backends (`async_backend.AsyncBackend`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from trl_ext.execution import judge
from trl_ext.execution.async_backend import AsyncBackend
from trl_ext.execution.remote import _unrun_tests


@dataclass
class RaySettings:
    r"""
    Parameters:
        num_actors (`int` or `None`, defaults to `None`): actors to start (None: the cluster's CPUs / `cpus_per_actor`).
        cpus_per_actor (`int`, defaults to `1`): CPUs each actor reserves, and the workers of its sandbox pool.
        chunk_size (`int`, defaults to `4`): jobs per actor call.
        in_flight_per_actor (`int`, defaults to `2`): chunks sent to one actor at once.
        max_attempts (`int`, defaults to `3`): actors a chunk is tried on before its jobs end in `sandbox_error`.
    """

    num_actors: int | None = None
    cpus_per_actor: int = 1
    chunk_size: int = 4
    in_flight_per_actor: int = 2
    max_attempts: int = 3


class SandboxActor:
    """A sandbox pool on a Ray node (made a Ray actor class by `RayBackend`)."""

    def __init__(self, workers: int):
        from trl_ext.execution.sandbox import Sandbox

        self.sandbox = Sandbox(workers)

    def run_batch(self, jobs: list[dict]) -> list[judge.ExecResult]:
        return judge.run_batch(jobs, sandbox=self.sandbox)

    def run_tests_batch(self, jobs: list[dict]) -> list[judge.TestsResult]:
        return judge.run_tests_batch(jobs, sandbox=self.sandbox)

    def node_id(self) -> str:
        import ray

        return ray.get_runtime_context().get_node_id()


class RayBackend(AsyncBackend):
    """Jobs on Ray actors (see the module docstring)."""

    name = "ray"

    def __init__(self, address: str | None = None, settings: RaySettings | None = None):
        import ray

        super().__init__()
        self.settings = settings or RaySettings()
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        per_actor = self.settings.cpus_per_actor
        count = self.settings.num_actors or max(1, cpus // per_actor)
        actor_class = ray.remote(num_cpus=per_actor, max_concurrency=self.settings.in_flight_per_actor)(
            SandboxActor
        )
        self.actors = [
            actor_class.options(scheduling_strategy="SPREAD").remote(per_actor) for _ in range(count)
        ]
        self.alive = set(range(count))

    async def _dispatch(self, method: str, jobs: list[dict], unrun) -> list:
        import ray

        size = self.settings.chunk_size
        chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
        results: list[list | None] = [None] * len(chunks)
        tries = [0] * len(chunks)
        todo = deque(range(len(chunks)))

        async def drive(index: int) -> None:
            actor = self.actors[index]
            while todo and index in self.alive:
                k = todo.popleft()
                try:
                    results[k] = await getattr(actor, method).remote(chunks[k])
                except ray.exceptions.RayError as err:
                    if isinstance(err, ray.exceptions.RayActorError):
                        self.alive.discard(index)  # its node or process is gone: never again
                    tries[k] += 1
                    if tries[k] < self.settings.max_attempts:
                        todo.append(k)
                    else:
                        results[k] = [unrun(job, f"{type(err).__name__}: {err}") for job in chunks[k]]

        while todo and self.alive:  # a chunk put back after the others drained gets another round
            drivers = [drive(i) for i in sorted(self.alive) for _ in range(self.settings.in_flight_per_actor)]
            await asyncio.gather(*drivers)
        for k in todo:
            results[k] = [unrun(job, "no live Ray actor could run it") for job in chunks[k]]
        return [r for chunk in results for r in chunk]

    async def _run_batch(self, jobs: list[dict]) -> list[judge.ExecResult]:
        def unrun(job, why):
            return judge.ExecResult("sandbox_error", stderr=f"no sandbox could run this job: {why}")

        return await self._dispatch("run_batch", jobs, unrun)

    async def _run_tests_batch(self, jobs: list[dict]) -> list[judge.TestsResult]:
        return await self._dispatch("run_tests_batch", jobs, _unrun_tests)

    def close(self) -> None:
        import ray

        if ray.is_initialized():
            for actor in self.actors:
                ray.kill(actor)
            if self._owns_ray:
                ray.shutdown()
        super().close()
