"""
The client core: what every provider's ``AsyncClient`` shares, written once.

A provider's client says what is particular to its API (where it lives, how its
credential travels, how its answers read, how a job is polled, and its resources) and
inherits the rest from :class:`ClientCore`: the retry policy (``max_retries=`` folded
into ``retry=``), the request budget (``rate_limit=``, ``token_source=``), the
:class:`~._session.Session` and the polling :class:`~._scheduler.Scheduler` over the
provider's :class:`~._handles.Poller`, the lifecycle (``async with``, ``aclose``),
``listening``, ``http``, ``retry`` and the transport (an httpx transport, or
``"aiohttp"`` on asyncio).  The functions beside it check what every client is given:
a credential from an argument or the environment, and a base URL the credential may
travel to.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import ClassVar, Generic, Literal, Self, TypedDict, TypeVar

import attrs
import httpx

from ._errors import ValidationError
from ._events import Listener, Listeners
from ._group import OwnedGroup
from ._handles import Poller
from ._learn import Durations
from ._limiter import RateLimit, TokenSource
from ._logging import configure_from_env
from ._retry import RetryPolicy
from ._schedule import PollPolicy
from ._scheduler import Scheduler
from ._session import Secret, Session
from ._wire import Wire

R = TypeVar("R")


def required_key(value: object, variable: str) -> Secret:
    """
    The API key: *value*, or the environment variable *variable* when it is ``None``.

    Raises:
        ValidationError: Naming ``api_key``: neither gives a key (or it is blank).
    """
    key = value if value is not None else os.environ.get(variable, "")
    if not isinstance(key, str) or not key.strip():
        raise ValidationError("api_key", f"no API key: pass api_key= or set {variable}")
    return Secret(key.strip())


def optional_secret(field: str, value: object) -> Secret | None:
    """
    A credential that may be left out: ``None`` stays ``None``.

    Raises:
        ValidationError: Naming *field*: given, but blank or not a string.
    """
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "is empty")
    return Secret(value.strip())


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: object) -> httpx.URL:
    """
    A base URL the credential may travel to: ``https``, or plain ``http`` on a loopback
    host only (where an emulator runs), since the credential goes in a header and must
    not cross a network in clear text.

    Raises:
        ValidationError: Naming ``base_url``: not a URL, another scheme, no host, or
            ``http`` off loopback.
    """
    if not isinstance(base_url, str):
        raise ValidationError("base_url", f"must be an https:// URL (got {base_url!r})")
    try:
        url = httpx.URL(base_url)
    except httpx.InvalidURL as error:
        raise ValidationError("base_url", f"not a URL ({error})") from None
    if url.scheme not in ("https", "http") or not url.host:
        raise ValidationError("base_url", f"must be an https:// URL (got {base_url!r})")
    if url.scheme == "http" and not _is_loopback(url.host):
        raise ValidationError(
            "base_url", "plain http:// is only allowed for loopback hosts; use https://"
        )
    return url


def origin_of(base_url: object, *, prefix: str, example: str) -> str:
    """
    A base URL checked (:func:`check_base_url`) and reduced to its origin
    (``scheme://host[:port]``), for an API that lives at one path *prefix* of its host.

    Raises:
        ValidationError: Naming ``base_url``: as :func:`check_base_url`, or a path other
            than *prefix* (the error names *example*, an origin of the API).
    """
    url = check_base_url(base_url)
    if url.path not in ("", "/") and url.path.rstrip("/") != prefix:
        raise ValidationError("base_url", f"expected an origin such as {example}, got {base_url!r}")
    return str(url.copy_with(path="/", query=None, fragment=None)).rstrip("/")


class BatchEngine(TypedDict):
    """
    What a batch takes from its client (the engine's ``Batch`` arguments).
    """

    http: httpx.AsyncClient
    retry: RetryPolicy
    listeners: Listeners
    durations: dict[str, Durations]


class ClientCore(Generic[R]):
    """
    The part of every provider's client that is the same for every API; a provider's
    ``AsyncClient`` subclasses it and adds its resources.

    Args:
        base: The URL every request path is appended to (the API's origin and prefix).
        auth: Adds the credential to each API request (never to another origin).
        secret: The credential, so that it can be removed from any message.
        wire: How the API's answers read.
        poller: Builds the provider's :class:`Poller` over the session.
        poll_policy: When and how often to poll jobs somebody waits for.
        timeout, limits, max_retries, retry, http_client, transport, rate_limit,
            token_source: The client's arguments of those names, as documented on each
            provider's ``AsyncClient``.

    Raises:
        ValidationError: ``max_retries`` or ``rate_limit`` out of range, a transport
            with an ``http_client``, ``"aiohttp"`` without the ``fast`` extra, or
            another string as the transport.
    """

    #: The API's name in a batch journal's notes (what was learned is kept by it).
    provider: ClassVar[str] = "api"

    def __init__(
        self,
        *,
        base: str,
        auth: httpx.Auth,
        secret: Secret,
        wire: Wire,
        poller: Callable[[Session], Poller[R]],
        poll_policy: PollPolicy,
        timeout: float | httpx.Timeout,
        limits: httpx.Limits,
        max_retries: int | None,
        retry: RetryPolicy | None,
        http_client: httpx.AsyncClient | None,
        transport: httpx.AsyncBaseTransport | Literal["aiohttp"] | None,
        rate_limit: float | RateLimit | None,
        token_source: TokenSource | None,
    ) -> None:
        configure_from_env()
        policy = retry or RetryPolicy()
        try:
            if max_retries is not None:
                policy = attrs.evolve(policy, max_retries=max_retries)
        except (TypeError, ValueError):
            raise ValidationError(
                "max_retries", f"must be a non-negative integer, got {max_retries!r}"
            ) from None
        try:
            budget = RateLimit.of(rate_limit)
        except ValueError as error:
            raise ValidationError("rate_limit", str(error)) from None
        self._session = session = Session(
            base=base,
            auth=auth,
            secret=secret,
            wire=wire,
            timeout=timeout,
            limits=limits,
            retry=policy,
            rate_limit=budget,
            token_source=token_source,
            http_client=http_client,
            transport=transport,
        )
        self.poll_policy = poll_policy
        self._scheduler: Scheduler[R] = Scheduler(
            poller(session),
            poll_policy,
            rng=session.rng,
            listeners=session.listeners,
            busy=session.limiter.busy,
        )
        self._group = OwnedGroup()

    async def __aenter__(self) -> Self:
        self._session.check_usable()
        group = await self._group.enter()
        try:
            await group.start(self._scheduler.run)
        except BaseException as error:
            await self._group.abort(error)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        try:
            if self._group.running:
                self._scheduler.stop()
            return await self._group.exit(exc_type, exc, tb)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """
        Stop the polling scheduler and close the connection pool (unless it was passed
        in as ``http_client``).  Waits still pending raise ``RuntimeError``.
        """
        self._scheduler.stop()
        await self._session.aclose()

    @property
    def retry(self) -> RetryPolicy:
        """
        How requests (and downloads) are retried; may be replaced at any time.
        """
        return self._session.retry

    @retry.setter
    def retry(self, policy: RetryPolicy) -> None:
        self._session.retry = policy

    @property
    def http(self) -> httpx.AsyncClient:
        """
        The underlying ``httpx.AsyncClient``; it never carries the credentials by itself
        (they are added per request to the API's own URLs only).
        """
        return self._session.http

    def listening(self, listener: Listener) -> AbstractContextManager[None]:
        """
        Call *listener* with every :class:`~a1art_async.Event` of this client while the
        block runs: each job submitted (and, for an answer that carried the result, done
        or failed at once), each state change its polls see (queued, running, done,
        failed), each failed request that will be tried again (``RETRYING``, with the
        error: the API unreachable, say), and ``SENDING``/``UNPAID`` around paid
        requests::

            with client.listening(lambda event: print(event.kind, event.task_id)):
                ...

        Listeners run on the event loop: keep them quick.  For one job or a few,
        ``handle.events()`` is a stream.
        """
        return self._session.listening(listener)

    def _batch_engine(self) -> BatchEngine:
        """
        What a batch of this client takes from it: the pool and retries for downloads,
        and the client's listeners (which hear about the batch's jobs).
        """
        session = self._session
        return BatchEngine(
            http=session.http,
            retry=session.retry,
            listeners=session.listeners,
            durations={self.provider: self._scheduler.durations},
        )
