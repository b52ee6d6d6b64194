"""
The in-process adapter: an httpx transport whose network is the emulator.

Network faults surface as the exceptions a real connection raises, so client code under
test takes the same paths it would in production: ``httpx.ConnectError`` when a request
never arrives, ``httpx.RemoteProtocolError`` when the connection drops after the server
acted, ``httpx.ReadTimeout`` when the answer comes later than the client waits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

import anyio.lowlevel
import httpx

from ._http import Request, Served, normalize_origin

OVERSIZED_BYTES: Final = 64 * 1024 * 1024
"""How much an ``oversized_download`` answer streams before it stops."""

_CHUNK: Final = 64 * 1024


class OversizedStream(httpx.AsyncByteStream):
    """
    The real body, then zeros up to :data:`OVERSIZED_BYTES`, produced lazily.

    A plain iterator rather than an async generator: a client that stops reading early
    leaves nothing behind for the garbage collector to finalize.
    """

    def __init__(self, head: bytes) -> None:
        self._head = head
        self._closed = [False]

    def __aiter__(self) -> AsyncIterator[bytes]:
        return _OversizedChunks(self._head, self._closed)

    async def aclose(self) -> None:
        # Like a socket: once the client closes the response, no more bytes arrive.
        self._closed[0] = True


class _OversizedChunks:
    def __init__(self, head: bytes, closed: list[bool]) -> None:
        self._head: bytes | None = head
        self._closed = closed
        self._sent = 0

    def __aiter__(self) -> _OversizedChunks:
        return self

    async def __anext__(self) -> bytes:
        # A checkpoint per chunk lets a client that gives up cancel the download.
        await anyio.lowlevel.checkpoint()
        if self._closed[0]:
            raise StopAsyncIteration
        if self._head is not None:
            chunk, self._head = self._head, None
        elif self._sent < OVERSIZED_BYTES:
            chunk = bytes(min(_CHUNK, OVERSIZED_BYTES - self._sent))
        else:
            raise StopAsyncIteration
        self._sent += len(chunk)
        return chunk


def _headers(request: httpx.Request) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in request.headers.multi_items():
        name = name.lower()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


class EmulatorTransport(httpx.AsyncBaseTransport):
    """
    Answers every origin in-process: the API, the file (CDN) origins, and anything else
    (404).

    Args:
        emulator: The emulator every request goes to.
    """

    def __init__(self, emulator: Served) -> None:
        self._emulator = emulator

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """
        Deliver *request* to the emulator and turn its reply into a response or an error.

        Raises:
            httpx.ConnectError: The ``drop_before_rate`` knob fired.
            httpx.RemoteProtocolError: The ``drop_after_rate`` knob fired.
            httpx.ReadTimeout: ``latency`` exceeded the request's read timeout.
        """
        body = await request.aread()
        url = request.url
        timeouts = request.extensions.get("timeout", {})
        reply = await self._emulator.handle(
            Request(
                method=request.method,
                origin=normalize_origin(url.scheme, url.host, url.port),
                path=url.path,
                query=url.query.decode("ascii"),
                headers=_headers(request),
                body=body,
            ),
            read_timeout=timeouts.get("read"),
        )
        if reply.action == "drop_before":
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        if reply.action == "drop_after":
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        if reply.action == "timeout" or reply.response is None:
            raise httpx.ReadTimeout("The read operation timed out", request=request)
        response = reply.response
        if response.oversized:
            # Claim the real length, then keep streaming: what a broken CDN edge does.
            headers = [*response.headers, ("content-length", str(len(response.body)))]
            stream = OversizedStream(response.body)
            return httpx.Response(response.status, headers=headers, stream=stream, request=request)
        return httpx.Response(
            response.status, headers=list(response.headers), content=response.body, request=request
        )
