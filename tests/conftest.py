"""
Shared fixtures: every async test runs on asyncio and on trio.

``anyio_backend`` runs on real time with both backends.  Tests that wait through
realistic timings (the documented 5 s first poll, a 22 s generation) ask for
``virtual_anyio_backend`` through ``pytest.mark.parametrize`` indirection or by
overriding ``anyio_backend`` in their module with :data:`VIRTUAL_BACKENDS`.
"""

from __future__ import annotations

from typing import Any

import pytest
from trio.testing import MockClock

from a1art_async.testing import VirtualTimeEventLoop


def _virtual_backends() -> list[Any]:
    return [
        pytest.param(("asyncio", {"loop_factory": VirtualTimeEventLoop}), id="asyncio-virtual"),
        pytest.param(("trio", {"clock": MockClock(autojump_threshold=0)}), id="trio-virtual"),
    ]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param


@pytest.fixture(params=_virtual_backends())
def virtual_backend(request: pytest.FixtureRequest) -> Any:
    """
    Both backends on virtual time: sleeps jump to the next deadline instantly.

    A module uses it with ``anyio_backend = virtual_backend`` style override::

        @pytest.fixture
        def anyio_backend(virtual_backend): return virtual_backend
    """
    return request.param
