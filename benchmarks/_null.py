"""
A provider whose jobs cost nothing and end at once, for measuring a distributed batch's
own bookkeeping (the journal, the shard, the engine batch) without any API request.

Each job takes the path an a1.art job takes through the journal (``pending ->
submitting -> submitted -> done``): its submit calls the spend guard as a paid request
would, and returns a handle whose wait answers at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx

from a1art_async._engine._batch import ResultFile
from a1art_async._engine._cost import CostEstimate
from a1art_async._engine._events import Event, Listeners
from a1art_async._engine._handles import JobHandle, JobStatus
from a1art_async._engine._journal import JobRecord
from a1art_async._engine._retry import RetryPolicy, SpendGuard
from a1art_async.distributed import Provider, register_provider

NAME = "null"


class _Poller:
    async def fetch(self, handle: JobHandle[str]) -> str:
        return "done"

    def status(self, result: str) -> JobStatus:
        return JobStatus.SUCCEEDED

    def state(self, result: str) -> object:
        return result

    def failure(self, handle: JobHandle[str], result: str) -> Exception:
        raise AssertionError("null jobs never fail")


class _Instant:
    """
    Waits end at once: the job is done when first asked.
    """

    poller = _Poller()

    async def wait(self, handle: JobHandle[str], *, timeout: float | None = None) -> str:  # noqa: ASYNC109
        return "done"

    def events(self, handles: Iterable[JobHandle[str]], *, timeout: float | None = None) -> Any:
        raise NotImplementedError


_INSTANT = _Instant()
_COST = CostEstimate.exactly(1)


class NullJob:
    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    async def check(self) -> CostEstimate:
        return _COST

    async def prepare(self) -> None:
        return None

    async def submit(self, guard: SpendGuard) -> JobHandle[Any]:
        await guard.sending()
        return JobHandle(_INSTANT, f"t-{self.key}")

    def resume(self, record: JobRecord) -> JobHandle[Any]:
        assert record.task_id is not None
        return JobHandle(_INSTANT, record.task_id)

    def files(self, result: Any) -> Sequence[ResultFile]:
        return ()


class NullClient:
    """
    What the engine's batch takes from a provider's client.
    """

    def __init__(self) -> None:
        self.http = httpx.AsyncClient()
        self.retry = RetryPolicy()
        self.listeners = Listeners()


def _params(app: Any, options: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    return str(options.get("key", app)), {}


def _job(client: Any, key: str, params: Mapping[str, Any]) -> NullJob:
    return NullJob(key)


def _engine(client: NullClient) -> dict[str, Any]:
    return {"http": client.http, "retry": client.retry, "listeners": client.listeners}


def register() -> None:
    register_provider(Provider(name=NAME, params=_params, job=_job, engine=_engine))


__all__ = ["NAME", "NullClient", "NullJob", "register", "Event"]
