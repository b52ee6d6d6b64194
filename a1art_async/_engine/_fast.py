"""
The optional fast transport: httpx's API over aiohttp's connection pool, for asyncio.

``transport="aiohttp"`` on a client makes its ``httpx.AsyncClient`` send through
``httpx-aiohttp``'s transport (the ``fast`` extra): the same requests, responses, auth,
timeouts and errors as httpx, at a fraction of httpx's own transport's CPU per request.
The session's own JSON and query requests go further and skip httpx's client layer
(:class:`Direct`), on the same aiohttp connection pool.  aiohttp runs on asyncio only,
so on trio a client asked for it refuses to open.

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


class Direct:
    """
    The SDK's own API requests straight through the fast transport's aiohttp session.

    httpx's client layer (building the request, the send pipeline, the response model)
    costs more CPU than aiohttp's whole request, so a session on the fast transport
    sends its JSON and query requests here, on the same connection pool, and keeps the
    ``httpx.AsyncClient`` (``client.http``) for uploads, downloads and its users.
    Errors come out as the httpx exceptions they would have been, with the same line
    between "never sent" and "may have arrived".

    Args:
        transport: The transport :func:`fast_transport` made.
    """

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        import aiohttp
        import yarl

        self._transport = transport
        self._aiohttp = aiohttp
        self._url = yarl.URL
        self._connecting = (aiohttp.ClientConnectorError, _connect_timeout())
        self._client: Any = None
        self._limits: httpx.Timeout | None = None
        self._converted: Any = None

    def _session(self) -> Any:
        session = self._client
        if session is None:
            transport: Any = self._transport
            if not isinstance(transport.client, self._aiohttp.ClientSession):
                transport.client = transport.get_client()
            session = self._client = transport.client
        return session

    def _timeout(self, timeout: httpx.Timeout) -> Any:
        if timeout is not self._limits:  # almost always the client's own: converted once
            self._limits = timeout
            self._converted = self._aiohttp.ClientTimeout(
                sock_connect=timeout.connect, sock_read=timeout.read, connect=timeout.pool
            )
        return self._converted

    async def open(
        self,
        method: str,
        url: str,
        *,
        params: Any,
        headers: dict[str, str],
        body: bytes | None,
        timeout: httpx.Timeout,  # noqa: ASYNC109 - httpx's limits, passed on
    ) -> Any:
        """
        Send the request and return aiohttp's response once its head arrived.

        Raises:
            httpx.ConnectError, httpx.ConnectTimeout: It was never sent.
            httpx.TimeoutException, httpx.RemoteProtocolError: It may have arrived.
        """
        aiohttp = self._aiohttp
        try:
            return await self._session().request(
                method,
                self._url(url, encoded=True),
                params=params,
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=self._timeout(timeout),
            )
        except self._connecting as error:
            if isinstance(error, aiohttp.ServerTimeoutError):
                raise httpx.ConnectTimeout(str(error)) from error
            raise httpx.ConnectError(str(error)) from error
        except aiohttp.ServerTimeoutError as error:
            raise httpx.ReadTimeout(str(error)) from error
        except (aiohttp.ClientError, OSError) as error:
            raise httpx.RemoteProtocolError(f"{type(error).__name__}: {error}") from error

    async def read(self, response: Any, limit: int) -> bytes | None:
        """
        The body, up to *limit* bytes; ``None`` when it is longer (then not read on).

        Raises:
            httpx.ReadTimeout, httpx.ReadError: The body did not arrive whole.
        """
        aiohttp = self._aiohttp
        try:
            length = response.content_length
            if length is not None and length <= limit:
                data: bytes = await response.read()
                return data
            chunks: list[bytes] = []
            received = 0
            async for chunk in response.content.iter_chunked(64 * 1024):
                received += len(chunk)
                if received > limit:
                    return None
                chunks.append(chunk)
            return b"".join(chunks)
        except aiohttp.ServerTimeoutError as error:
            raise httpx.ReadTimeout(str(error)) from error
        except (aiohttp.ClientError, OSError) as error:
            raise httpx.ReadError(f"{type(error).__name__}: {error}") from error
