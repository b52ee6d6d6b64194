"""
The optional fast transport: httpx's API over aiohttp's connection pool, for asyncio.

``transport="aiohttp"`` on a client makes its ``httpx.AsyncClient`` send through
``httpx-aiohttp``'s transport (the ``fast`` extra): the same requests, responses, auth,
timeouts and errors as httpx, at a fraction of httpx's own transport's CPU per request.
aiohttp runs on asyncio only, so on trio a client asked for it refuses to open.

Credits depend on one thing here: whether a failed request may have reached the server.
``httpx-aiohttp`` maps every ``aiohttp.ClientConnectionError`` (a server that
disconnected after reading the request, too) to ``httpx.ConnectTimeout``, which says
"never sent"; this module's transport keeps that only for errors raised while
connecting, and makes the others ``httpx.RemoteProtocolError`` ("may have arrived"),
so that a generate is never sent twice on its word.
"""

from __future__ import annotations

from typing import Any, Final

import httpx

from ._errors import ValidationError

#: What ``transport=`` takes to choose this transport.
FAST: Final = "aiohttp"
INSTALL_HINT: Final = (
    "transport='aiohttp' needs the fast extra: pip install -e '.[fast]' (in the project "
    "directory), or pip install httpx-aiohttp"
)
ASYNCIO_ONLY: Final = (
    "transport='aiohttp' runs on asyncio only; on trio leave transport unset (httpx's own)"
)


def fast_transport(limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    """
    The aiohttp transport with at most ``limits.max_connections`` connections.

    Raises:
        ValidationError: The ``fast`` extra is not installed.
    """
    try:
        import aiohttp
        from httpx_aiohttp import AiohttpTransport
    except ImportError:
        raise ValidationError("transport", INSTALL_HINT) from None

    class _Transport(AiohttpTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            # Bodies are small (an envelope, an image of at most 10 MB): sent whole, with
            # their Content-Length, rather than as a stream aiohttp would chunk.
            await request.aread()
            try:
                response: httpx.Response = await super().handle_async_request(request)
            except (httpx.ConnectError, httpx.ConnectTimeout) as error:
                if isinstance(error.__cause__, aiohttp.ClientConnectorError | _connect_timeout()):
                    raise
                raise httpx.RemoteProtocolError(str(error), request=request) from error.__cause__
            return response

    transport: httpx.AsyncBaseTransport = _Transport(limits=limits)
    return transport


def _connect_timeout() -> Any:
    import aiohttp

    # aiohttp 3.10+: a timeout while connecting; older ones have no such class.
    return getattr(aiohttp, "ConnectionTimeoutError", aiohttp.ClientConnectorError)


def check_backend() -> None:
    """
    Refuse to run the aiohttp transport anywhere but asyncio.

    Raises:
        ValidationError: The running event loop is not asyncio's.
    """
    import sniffio

    if sniffio.current_async_library() != "asyncio":
        raise ValidationError("transport", ASYNCIO_ONLY)
