"""
Shared fixtures: every async test runs on asyncio and on trio.

``anyio_backend`` runs on real time with both backends.  Tests that wait through
realistic timings (the documented 5 s first poll, a 22 s generation) override
``anyio_backend`` with ``virtual_backend``: both backends on virtual time.
"""

from __future__ import annotations

from typing import Any

import pytest
from trio.testing import MockClock

from a1art_async.testing import VirtualTimeEventLoop


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param


@pytest.fixture(params=["asyncio-virtual", "trio-virtual"])
def virtual_backend(request: pytest.FixtureRequest) -> Any:
    """
    Both backends on virtual time: sleeps jump to the next deadline instantly.  Each test
    gets a fresh clock starting at zero.

    A module uses it by overriding ``anyio_backend``::

        @pytest.fixture
        def anyio_backend(virtual_backend): return virtual_backend
    """
    if request.param == "asyncio-virtual":
        return ("asyncio", {"loop_factory": VirtualTimeEventLoop})
    return ("trio", {"clock": MockClock(autojump_threshold=0)})


API_KEY = "test-key-0123456789abcdef"


@pytest.fixture
def emulator() -> Any:
    """
    A fresh in-process emulator with one key and 1,000 credits.
    """
    from a1art_async.testing import Emulator

    return Emulator(api_key=API_KEY, balance=1000, seed=0)


@pytest.fixture
def client(emulator: Any) -> Any:
    """
    A client wired to the emulator in-process, with quick retries.
    """
    from a1art_async import AsyncClient, RetryPolicy

    return AsyncClient(
        api_key=API_KEY,
        transport=emulator.transport(),
        retry=RetryPolicy(max_retries=3, initial=0.1, cap=1.0),
    )


def scripted_poller(fetch: Any) -> Any:
    """
    The a1.art scheduler seam over a scripted ``fetch(task_id, region) -> Task``: tests
    of the scheduler poll a fake server instead of the API.
    """
    from a1art_async._resources import TaskPoller

    class Scripted(TaskPoller):
        def __init__(self) -> None:
            pass

        async def fetch(self, handle: Any) -> Any:
            return await fetch(handle.task_id, handle.route)

    return Scripted()
