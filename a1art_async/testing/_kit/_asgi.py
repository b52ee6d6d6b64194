"""
The ASGI adapter: the same emulator served by uvicorn (or ``httpx.ASGITransport``).

The API and the file host (CDN) are told apart by the address the connection arrived on
(``scope["server"]``), so a loopback server binds one socket per origin.  Admin endpoints
under ``/_emulator/`` on the API origin (see ``EmulatorBase.admin``) expose the journal,
statistics and fault knobs to tests that only have HTTP.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from ._http import Request, Response, Served, normalize_origin
from ._transport import OVERSIZED_BYTES

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_ADMIN: Final = "/_emulator/"
_CHUNK: Final = 64 * 1024


class ConnectionDropped(Exception):
    """
    Raised after the status line to make the server abort the connection mid-answer.

    ASGI has no way to close a connection without answering; an exception after
    ``http.response.start`` makes the server cut it, which the client sees as a
    truncated response.
    """


class EmulatorASGI:
    """
    An ASGI 3 application over an emulator (``EmulatorBase``).

    Args:
        emulator: The emulator every request goes to.
    """

    def __init__(self, emulator: Served) -> None:
        self._emulator = emulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """
        Serve one ASGI connection scope (``http`` or ``lifespan``).

        Raises:
            ConnectionDropped: When a drop knob fires, after the status line was sent.
        """
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers", []):
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        request = Request(
            method=scope["method"],
            origin=self._origin(scope, headers),
            path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=bytes(body),
        )
        if request.origin == self._emulator.api_origin and request.path.startswith(_ADMIN):
            await _send(send, self._emulator.admin(request))
            return
        reply = await self._emulator.handle(request)
        if reply.action in ("drop_before", "drop_after"):
            length = len(reply.response.body) if reply.response is not None else 1
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", str(max(1, length)).encode())],
                }
            )
            raise ConnectionDropped(reply.action)
        assert reply.response is not None  # no read timeout is passed, so no "timeout"
        await _send(send, reply.response)

    def _origin(self, scope: Scope, headers: dict[str, str]) -> str:
        scheme = scope.get("scheme", "http")
        server = scope.get("server")
        if server is not None:
            origin = normalize_origin(scheme, server[0], server[1])
        else:
            origin = normalize_origin(scheme, headers.get("host", "localhost"), None)
        emulator = self._emulator
        known = (emulator.api_origin, *emulator.file_origins)
        if origin in known or server is None:
            return origin
        # A socket bound to 0.0.0.0 reports the address the client used; the port still
        # says which of the emulator's sockets took the connection.
        for candidate in known:
            if candidate.endswith(f":{server[1]}"):
                return candidate
        return origin

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """
        The server's life: what runs beside the emulator (``running()``, webhooks for
        one) starts with it and stops with it.
        """
        message = await receive()
        if message["type"] != "lifespan.startup":
            return
        async with self._emulator.running():
            await send({"type": "lifespan.startup.complete"})
            while message["type"] != "lifespan.shutdown":
                message = await receive()
        await send({"type": "lifespan.shutdown.complete"})


async def _send(send: Send, response: Response) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    if response.oversized:
        # HTTP/1.1 servers refuse to send more than a declared Content-Length, so over a
        # real socket the oversized body goes out chunked, without one.
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body, "more_body": True})
        sent = len(response.body)
        while sent < OVERSIZED_BYTES:
            chunk = min(_CHUNK, OVERSIZED_BYTES - sent)
            sent += chunk
            await send({"type": "http.response.body", "body": bytes(chunk), "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    if not any(name == b"content-length" for name, _ in headers):
        headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body, "more_body": False})
