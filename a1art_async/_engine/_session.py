"""
The one path every API request takes, whatever the API.

A :class:`Session` owns the HTTP connection pool, the API's credentials (an
``httpx.Auth`` the provider supplies, applied to the API's own origin only), the request
budget (:class:`~._limiter.Limiter`), the retry loop and the client's event listeners.
A provider supplies a :class:`~._wire.Wire` (``_wire.py``): how to read one HTTP answer
into data or a typed refusal, and which error says that a paid request's outcome is
unknown.  Everything else (when to retry, what a retry may cost, which requests may be
sent again at all) is decided here, once, by :func:`~._retry.classify`.  The client
core (``_client.py``) owns a session, with the polling scheduler and the lifecycle.

Requests that spend credits carry a :class:`~._retry.SpendGuard`: it is told right
before the request leaves (after any wait for the budget) and when an attempt provably
was not charged, so that a batch can journal the job at the right instants.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from contextlib import AbstractContextManager
from json import dumps as _dumps
from typing import Any, Final

import anyio
import httpx

from ._errors import UnexpectedRedirectError, ValidationError
from ._events import Event, EventKind, Listener, Listeners
from ._fast import FAST, Direct, check_backend, fast_transport
from ._limiter import Limiter, RateLimit, TokenSource
from ._logging import logger
from ._retry import (
    Decision,
    Failure,
    RequestKind,
    RetryPolicy,
    SpendGuard,
    classify,
    compute_backoff,
)
from ._streams import read_capped
from ._wire import Refused, Reply, Wire

#: Envelopes are small; a body past this is not one, and is not read further.
MAX_ENVELOPE_BYTES: Final = 4 * 1024 * 1024
#: Statuses httpx calls redirects (``Response.is_redirect``, given a Location).
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
#: Failures that prove an attempt was not charged: refused for the rate, rejected
#: outright by the API, or never sent.
_UNPAID: Final = frozenset({Failure.RATE_LIMITED, Failure.REJECTED, Failure.NOT_SENT})


class Secret:
    """
    Holds an API key or token so that no repr, str or traceback local shows it.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__


class HeaderAuth(httpx.Auth):
    """
    Sends a secret in one header (``apiKey: KEY``, ``x-api-key: KEY``, or
    ``Authorization: Bearer TOKEN`` with ``prefix="Bearer "``).
    """

    def __init__(self, header: str, secret: Secret, *, prefix: str = "") -> None:
        self._header = header
        self._secret = secret
        self._prefix = prefix

    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers[self._header] = self._prefix + self._secret.reveal()
        yield request

    def header(self) -> tuple[str, str]:
        """
        The header's name and value (for a request path that applies it itself).
        """
        return self._header, self._prefix + self._secret.reveal()

    def __repr__(self) -> str:
        return f"<HeaderAuth {self._header}>"


class Session:
    """
    One API's connection pool, credentials, request budget and retries: the request
    path.  The client core (``_client.py``) owns it, with the polling scheduler and the
    lifecycle around both.

    Args:
        base: The URL every request path is appended to (the API's origin and prefix).
        auth: Adds the credentials to a request; never applied to another origin.
        secret: The credential, so that it can be removed from any message.
        wire: How the API's answers read.
        timeout: Seconds, or an ``httpx.Timeout``.
        limits: The connection pool's limits; at most ``max_connections`` requests are
            in flight, the rest wait in the limiter's queue.
        retry: How often and how patiently to retry.
        rate_limit: The request budget's parameters.
        token_source: Where the budget's tokens come from (a budget shared by several
            processes); this process's own bucket by default.
        http_client: An ``httpx.AsyncClient`` to use (and not close).
        transport: An httpx transport for a client this session creates, or
            ``"aiohttp"`` for the fast transport (the ``fast`` extra; asyncio only).

    Raises:
        ValidationError: A transport with an ``http_client``, ``"aiohttp"`` without
            the ``fast`` extra, or any other string.
    """

    def __init__(
        self,
        *,
        base: str,
        auth: httpx.Auth,
        secret: Secret,
        wire: Wire,
        timeout: float | httpx.Timeout,
        limits: httpx.Limits,
        retry: RetryPolicy,
        rate_limit: RateLimit,
        token_source: TokenSource | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | str | None = None,
    ) -> None:
        if http_client is not None and transport is not None:
            raise ValidationError("transport", "pass either http_client or transport, not both")
        #: Whether requests go through the aiohttp transport (checked for asyncio).
        self._fast = isinstance(transport, str)
        if isinstance(transport, str):
            if transport != FAST:
                raise ValidationError("transport", f"must be an httpx transport or {FAST!r}")
            transport = fast_transport(limits)
        # On the fast transport the session's own JSON and query requests skip httpx's
        # client layer (see Direct); that needs the credential as one header.
        self._direct = (
            Direct(transport)
            if self._fast and isinstance(auth, HeaderAuth) and transport is not None
            else None
        )
        self.base = base.rstrip("/")
        self._auth = auth
        self._secret = secret
        self.wire = wire
        self.retry = retry
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            timeout=timeout, limits=limits, transport=transport, follow_redirects=False
        )
        self._user_agent = str(self._http.headers.get("user-agent", "python-httpx"))
        # In-flight requests are bounded to the pool's size; the limiter also orders
        # the waiting ones by priority and paces them to the server's rate limit.
        self.limiter = Limiter(rate_limit, limits.max_connections or 100, source=token_source)
        self.rng = random.Random()
        self.listeners = Listeners()
        self._closed = False

    # Lifecycle -------------------------------------------------------------------------

    def check_usable(self) -> None:
        """
        Refuse to be used once closed, or on the fast transport off asyncio (checked
        once, on first use: the backend is known only inside the event loop).

        Raises:
            RuntimeError: :meth:`aclose` ran.
            ValidationError: ``transport="aiohttp"`` on another event loop than asyncio's.
        """
        if self._closed:
            raise RuntimeError("the client is closed")
        if self._fast:
            check_backend()
            self._fast = False  # checked: requests need not check again

    async def aclose(self) -> None:
        """
        Close the connection pool (unless it was passed in); requests then raise
        ``RuntimeError``.
        """
        if self._closed:
            return
        self._closed = True
        if self._owns_http:
            await self._http.aclose()

    @property
    def closed(self) -> bool:
        """
        Whether :meth:`aclose` ran.
        """
        return self._closed

    @property
    def http(self) -> httpx.AsyncClient:
        """
        The underlying ``httpx.AsyncClient``; it never carries the credentials itself.
        """
        return self._http

    def listening(self, listener: Listener) -> AbstractContextManager[None]:
        """
        Call *listener* with every event of this session while the block runs.
        """
        return self.listeners.listening(listener)

    def redact(self, text: str) -> str:
        """
        *text* with the credential removed.
        """
        return text.replace(self._secret.reveal(), "<secret>")

    # The request path ---------------------------------------------------------------

    async def request(
        self,
        kind: RequestKind,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        files: Any = None,
        spend: Any = None,
        guard: SpendGuard | None = None,
        timeout: float | httpx.Timeout | None = None,  # noqa: ASYNC109 - httpx's, per request
    ) -> Any:
        """
        Send one API request with retries, and return what the wire read from it.

        Args:
            kind: Whether repeating the request is safe (see :class:`RequestKind`).
            method: The HTTP method.
            path: The path below the session's base URL.
            params: Query parameters.
            headers: Extra headers (the credentials are added here, not by the caller).
            json: A JSON body.
            files: A multipart body, as httpx takes it.
            spend: For a paid request, the request itself, carried by the outcome-unknown
                error if its outcome cannot be known.
            guard: For a paid request, told when it leaves and when an attempt provably
                was not charged.
            timeout: This request's timeout, instead of the pool's.

        Raises:
            APIError: The API's answer, as the provider's typed subclass.
            OutcomeUnknown: A paid request may have been acted on (the provider's).
            TransportError: The request could not be completed.
            UnexpectedResponseError: The answer was not the documented envelope.
        """
        if self._closed or self._fast:
            self.check_usable()
        url = f"{self.base}{path}"
        paid = kind is RequestKind.SPEND
        guard = guard if paid else None
        attempt = 0
        while True:
            try:
                return await self._attempt(
                    method, url, params, headers, json, files, guard, timeout, paid
                )
            except Refused as failed:
                decision = classify(kind, failed.failure)
                if paid and failed.failure in _UNPAID and failed.sending:
                    # Say so before any wait: a cancellation from here on must not
                    # leave the request looking as if it may have been charged.
                    if guard is not None:
                        with anyio.CancelScope(shield=True):
                            await guard.unpaid()
                    if self.listeners:
                        self.listeners.emit(Event(EventKind.UNPAID, error=failed.error))
                final = decision is not Decision.RETRY or attempt >= self.retry.max_retries
                if final:
                    if decision is Decision.OUTCOME_UNKNOWN and spend is not None:
                        error = self.wire.outcome_unknown(spend, failed.error)
                        raise error from failed.error
                    raise failed.error from failed.error.__cause__
                delay = compute_backoff(
                    self.retry, attempt, jitter=self.rng.random(), retry_after=failed.retry_after
                )
                if self.listeners:
                    self.listeners.emit(Event(EventKind.RETRYING, error=failed.error))
                logger.info(
                    "retrying %s %s in %.2f s (attempt %d of %d): %s",
                    method,
                    path,
                    delay,
                    attempt + 1,
                    self.retry.max_retries,
                    failed.error,
                )
                attempt += 1
                await anyio.sleep(delay)

    async def _attempt(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        json: Any,
        files: Any,
        guard: SpendGuard | None,
        timeout: float | httpx.Timeout | None,  # noqa: ASYNC109 - httpx's, per request
        paid: bool,
    ) -> Any:
        """
        One attempt: a permit from the limiter, the spend guard told, the exchange (on
        the fast transport's direct path for requests without files), the wire's
        reading, and the limiter told what the answer says about the rate.
        """
        # The request is built before waiting for a permit: its CPU is not spent
        # holding one.
        direct = self._direct if files is None else None
        if direct is None:
            request = self._http.build_request(
                method,
                url,
                params=params,
                headers=headers,
                json=json,
                files=files,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        else:
            sent_headers, body, limits = self._direct_request(headers, json, timeout)
        limiter = self.limiter
        permit = await limiter.acquire()
        try:
            if guard is not None:
                await guard.sending()
            if paid and self.listeners:
                self.listeners.emit(Event(EventKind.SENDING))
            try:
                if direct is None:
                    reply = await self._exchange(request)
                else:
                    reply = await self._exchange_direct(
                        direct, method, url, params, sent_headers, body, limits
                    )
                data = self.wire.read(reply)
            except Refused as failed:
                if failed.failure is Failure.RATE_LIMITED:
                    limiter.refused(permit, failed.retry_after)
                elif failed.failure is Failure.REJECTED:
                    limiter.accepted(permit)  # a definitive answer: the rate was fine
                failed.sending = paid
                raise
            limiter.accepted(permit)
            return data
        finally:
            # Transport errors, gateway pages, cancellation: nothing about the rate.
            limiter.release(permit)

    async def _exchange(self, request: httpx.Request) -> Reply:
        """
        Send *request* through httpx and read its answer (up to an envelope's size).

        Raises:
            Refused: A transport error (``NOT_SENT`` or ``NO_ANSWER``), or a redirect
                (``REJECTED``: it is not followed).
        """
        try:
            response = await self._http.send(
                request, stream=True, follow_redirects=False, auth=self._auth
            )
        except httpx.HTTPError as error:
            raise Refused.from_transport(error) from None
        try:
            body = await _read_bounded(response)
        except httpx.HTTPError as error:
            raise Refused.from_transport(error, sent=True) from None
        finally:
            await response.aclose()
        status = response.status_code
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s -> %d", request.method, request.url.copy_with(query=None), status)
        if response.is_redirect:
            location = self.redact(response.headers.get("location", ""))
            raise Refused(Failure.REJECTED, UnexpectedRedirectError(status, location))
        return Reply(response, body, self.redact)

    def _direct_request(
        self,
        headers: Mapping[str, str] | None,
        json: Any,
        timeout: float | httpx.Timeout | None,
    ) -> tuple[dict[str, str], bytes | None, httpx.Timeout]:
        """
        The headers (the credential's among them), body and timeout of a request on the
        direct path.
        """
        assert isinstance(self._auth, HeaderAuth)  # Direct exists only then
        name, value = self._auth.header()
        sent_headers = {"user-agent": self._user_agent, name: value}
        body = None
        if json is not None:
            body = _dumps(json, ensure_ascii=False, separators=(",", ":")).encode()
            sent_headers["content-type"] = "application/json"
        if headers:
            sent_headers.update(headers)
        limits = self._http.timeout if timeout is None else httpx.Timeout(timeout)
        return sent_headers, body, limits

    async def _exchange_direct(
        self,
        direct: Direct,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        headers: dict[str, str],
        body: bytes | None,
        timeout: httpx.Timeout,  # noqa: ASYNC109 - httpx's, per request
    ) -> Reply:
        """
        :meth:`_exchange` on the fast transport's aiohttp session, without httpx's
        client layer: the same answers, the same errors.
        """
        try:
            answer = await direct.open(
                method, url, params=params, headers=headers, body=body, timeout=timeout
            )
        except httpx.HTTPError as error:
            raise Refused.from_transport(error) from None
        try:
            content = await direct.read(answer, MAX_ENVELOPE_BYTES)
        except httpx.HTTPError as error:
            raise Refused.from_transport(error, sent=True) from None
        finally:
            answer.release()
        status = answer.status
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s -> %d", method, url, status)
        reply = Reply(None, content, self.redact, status=status, raw_headers=answer.raw_headers)
        if status in _REDIRECTS:
            location = self.redact(reply.header("location") or "")
            raise Refused(Failure.REJECTED, UnexpectedRedirectError(status, location))
        return reply


async def _read_bounded(response: httpx.Response) -> bytes | None:
    """
    Read a body up to the envelope limit; ``None`` means it was larger.
    """
    length = response.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) <= MAX_ENVELOPE_BYTES:
        # The usual envelope: read whole (over HTTP/1.1 the body is exactly that long).
        return await response.aread()
    chunks: list[bytes] = []

    async def keep(chunk: bytes) -> None:
        chunks.append(chunk)

    if not await read_capped(response, MAX_ENVELOPE_BYTES, keep):
        return None
    return b"".join(chunks)
