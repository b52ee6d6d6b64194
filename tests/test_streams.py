"""
``read_capped``: a response body read up to a cap, leaving no half-read stream behind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

from a1art_async._engine._streams import read_capped

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend(virtual_backend: Any) -> Any:
    return virtual_backend


class Slow(httpx.AsyncByteStream):
    """
    A body of ten 4-byte chunks, one a second, that notes whether it was closed.
    """

    def __init__(self) -> None:
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(10):
            await anyio.sleep(1)
            yield b"abcd"

    async def aclose(self) -> None:
        self.closed = True


async def _read(
    limit: int, *, cancel_after: float | None = None
) -> tuple[bool | None, bytes, bool]:
    stream = Slow()
    response = httpx.Response(200, stream=stream)
    written = bytearray()

    async def write(chunk: bytes) -> None:
        written.extend(chunk)

    fit: bool | None = None
    with anyio.move_on_after(cancel_after if cancel_after is not None else 60):
        fit = await read_capped(response, limit, write)
    return fit, bytes(written), stream.closed


async def test_a_whole_body_within_the_cap_is_written() -> None:
    """
    A body within the cap is written whole, and the read says so.
    """
    assert (True, b"abcd" * 10) == (await _read(40))[:2]


async def test_a_body_past_the_cap_closes_the_response() -> None:
    """
    A body past the cap is written up to the last chunk that fit, and the response is
    closed.
    """
    assert (False, b"abcd" * 2, True) == await _read(10)


async def test_a_read_cancelled_part_way_closes_the_response() -> None:
    """
    A read cancelled part-way closes the response before the cancellation goes on.
    """
    assert (None, b"abcd" * 2, True) == await _read(40, cancel_after=2.5)
