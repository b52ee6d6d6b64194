"""
``AsyncClient``: owns the HTTP connection pool and the one path every API request takes.

That path adds the API key (and only for the API's origin), bounds how many requests are
in flight to the pool's size, reads the ``{code, msg, msg_cn, data}`` envelope into data
or a typed error, and retries what :func:`~a1art_async._retry.classify` says is safe.
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections.abc import Mapping
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self, Unpack

import anyio
import httpx

from ._batch import Batch
from ._config import (
    API_ORIGINS,
    API_PREFIX,
    DEFAULT_LIMITS,
    DEFAULT_TIMEOUT,
    Region,
    normalize_origin,
)
from ._events import Event, EventKind, Listener, Listeners
from ._exceptions import (
    A1ArtError,
    ConnectError,
    GenerationOutcomeUnknown,
    RateLimitError,
    ServerError,
    TimeoutError,
    TransportError,
    UnexpectedRedirectError,
    UnexpectedResponseError,
    ValidationError,
    api_error,
)
from ._forms import CostEstimate
from ._generation import AppCache, GenerateArgs, GenerateOptions, cost_of
from ._generation import generate as generate_by_meaning
from ._journal import JournalStore
from ._limiter import Limiter, RateLimit
from ._logging import configure_from_env, logger
from ._models import App, EnhanceRequest, GenerateRequest, Language
from ._polling import PollPolicy, Scheduler
from ._resources import Apps, Images, Tasks
from ._retry import (
    Decision,
    Failure,
    RequestKind,
    RetryPolicy,
    SpendGuard,
    classify,
    compute_backoff,
    parse_retry_after,
    spend_guard,
)
from ._streams import read_capped

if TYPE_CHECKING:
    from ._handles import TaskHandle

_EXCERPT_CHARS = 200
#: Envelopes are small; a body past this is not one, and is not read further.
_MAX_ENVELOPE_BYTES = 4 * 1024 * 1024


class _Secret:
    """
    Holds the API key so that no repr, str or traceback local shows it.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__


class AsyncClient:
    """
    The a1.art Open API, asynchronously, on asyncio or trio.

    Args:
        api_key: The API key; defaults to the ``A1ART_API_KEY`` environment variable.
        region: ``"global"`` (``https://a1.art``) or ``"cn"`` (the documented China
            domain; task queries then also send ``section: cn``).
        base_url: Another origin for the API, such as a loopback emulator.  Plain
            ``http://`` is accepted only for loopback hosts.
        timeout: Seconds, or an ``httpx.Timeout``.
        limits: The connection pool's limits; at most ``max_connections`` requests are
            in flight at once, the rest wait their turn outside httpx's pool.
        max_retries: Shorthand for ``retry=RetryPolicy(max_retries=...)``.
        retry: The full retry policy.
        http_client: An ``httpx.AsyncClient`` to use (and not close); the API key is added
            per request, never to the client's defaults.
        transport: An httpx transport for a client this one creates, e.g. the emulator's.
        poll_policy: When and how often to poll tasks that somebody waits for.
        rate_limit: The request budget shared by every request of this client: a
            :class:`RateLimit`, or a number as a ceiling in requests per second.  By
            default the rate adapts to the server's refusals (code 20000, HTTP 429);
            see :class:`RateLimit` for the algorithm and its parameters.

    Use it as ``async with AsyncClient() as client:``, or call :meth:`aclose`.  Waiting
    for tasks (``handle.result()``, ``client.tasks.wait``, ``as_completed``) needs the
    ``async with`` form: it runs the polling scheduler in a task group that the block
    owns, so nothing it starts outlives the client.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        region: Region = "global",
        base_url: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        limits: httpx.Limits = DEFAULT_LIMITS,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        poll_policy: PollPolicy | None = None,
        rate_limit: float | RateLimit | None = None,
    ) -> None:
        configure_from_env()
        key = api_key if api_key is not None else os.environ.get("A1ART_API_KEY", "")
        if not key or not key.strip():
            raise ValidationError("api_key", "no API key: pass api_key= or set A1ART_API_KEY")
        if region not in API_ORIGINS:
            raise ValidationError("region", f"must be one of {', '.join(API_ORIGINS)}")
        if http_client is not None and transport is not None:
            raise ValidationError("transport", "pass either http_client or transport, not both")
        self._api_key = _Secret(key.strip())
        self.region: Region = region
        self.origin = normalize_origin(base_url or API_ORIGINS[region])
        self.retry = retry or RetryPolicy()
        if max_retries is not None:
            self.retry = RetryPolicy(
                max_retries=max_retries,
                initial=self.retry.initial,
                cap=self.retry.cap,
                retry_after_cap=self.retry.retry_after_cap,
            )
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            timeout=timeout, limits=limits, transport=transport, follow_redirects=False
        )
        try:
            budget = RateLimit.of(rate_limit)
        except ValueError as error:
            raise ValidationError("rate_limit", str(error)) from None
        # In-flight requests are bounded to the pool's size; the limiter also orders
        # the waiting ones by priority and paces them to the server's rate limit.
        self._limiter = Limiter(budget, limits.max_connections or 100)
        self._random = random.Random()
        self._closed = False
        self._apps = Apps(self)
        self._images = Images(self)
        self._tasks = Tasks(self)
        self.app_cache = AppCache()
        self.poll_policy = poll_policy or PollPolicy()
        self._listeners = Listeners()
        self._scheduler = Scheduler(
            self._tasks._fetch,
            self.poll_policy,
            rng=self._random,
            listeners=self._listeners,
        )
        self._scheduler_group: anyio.abc.TaskGroup | None = None

    def __repr__(self) -> str:
        return f"<AsyncClient origin={self.origin!r} region={self.region!r}>"

    async def __aenter__(self) -> Self:
        if self._closed:
            raise RuntimeError("the client is closed")
        if self._scheduler_group is not None:
            raise RuntimeError("the client is open already; enter it once")
        group = anyio.create_task_group()
        await group.__aenter__()
        try:
            await group.start(self._scheduler.run)
        except BaseException as error:
            group.cancel_scope.cancel()
            await group.__aexit__(type(error), error, error.__traceback__)
            raise
        self._scheduler_group = group
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        group, self._scheduler_group = self._scheduler_group, None
        try:
            if group is not None:
                self._scheduler.stop()
                try:
                    return await group.__aexit__(exc_type, exc, tb)
                except BaseExceptionGroup as errors:
                    # The block's own exception comes back wrapped by the task group;
                    # let it propagate as it was raised.
                    if exc is not None and [exc] == list(errors.exceptions):
                        return False
                    raise
            return None
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """
        Stop the polling scheduler and close the connection pool (unless it was passed
        in as ``http_client``).  Waits still pending raise ``RuntimeError``.
        """
        if self._closed:
            return
        self._closed = True
        self._scheduler.stop()
        if self._owns_http:
            await self._http.aclose()

    @property
    def apps(self) -> Apps:
        """
        App details: ``await client.apps.get(app_id)``.
        """
        return self._apps

    @property
    def images(self) -> Images:
        """
        Uploads, generation and enhancement: ``client.images.upload``, ``generate``,
        ``enhance``, ``submit`` and ``submit_enhance``.
        """
        return self._images

    @property
    def tasks(self) -> Tasks:
        """
        Task status and waiting: ``client.tasks.get``, ``wait``, ``as_completed``,
        ``track`` and ``resume``.
        """
        return self._tasks

    def listening(self, listener: Listener) -> AbstractContextManager[None]:
        """
        Call *listener* with every :class:`Event` of this client while the block runs:
        each task submitted, each state change its polls see (queued, running, done,
        failed), and each failed request that will be tried again (``RETRYING``, with
        the error: the API unreachable, say)::

            with client.listening(lambda event: print(event.kind, event.task_id)):
                ...

        Listeners run on the event loop: keep them quick.  For one task or a few,
        ``handle.events()`` and ``client.tasks.events(handles)`` are streams.
        """
        return self._listeners.listening(listener)

    @property
    def http(self) -> httpx.AsyncClient:
        """
        The underlying ``httpx.AsyncClient``; it never carries the API key by itself.
        """
        return self._http

    # High-level generation ----------------------------------------------------------

    async def generate(
        self,
        app: App | str,
        *,
        language: str | Language | None = None,
        **options: Unpack[GenerateOptions],
    ) -> TaskHandle:
        """
        Generate by meaning rather than by form id, and return a handle to wait on::

            handle = await client.generate(app, image="pet.jpg", prompt="a cat",
                                           style="High Quality Anmie", aspect="16:9")

        Everything is checked against the app's forms before any upload or charge;
        images are uploaded concurrently.  If the app was republished meanwhile (324013)
        it is fetched again and the request resubmitted once: the server refused the
        first without acting.

        Args:
            app: The app, or its id (details are cached per client for a minute).
            language: The language to read the app's details in.
            **options: ``image``, ``images``, ``prompt``, ``prompts``, ``tags``,
                ``style``, ``aspect``, ``count``: see :class:`GenerateOptions`.

        Raises:
            ValidationError: Naming the form field and its valid choices.
            GenerationOutcomeUnknown: It may have been charged; it was not resent.
        """
        return await generate_by_meaning(self, app, GenerateArgs(**options), language=language)

    async def estimate_cost(
        self, app: App | str | None = None, *, count: int = 1, enhances: int = 0
    ) -> CostEstimate:
        """
        Credits a generation (and/or enhances) will cost, by the documented rules: form
        apps 1 per image, node apps their ``cost``, videos 10, enhance 3.

        The docs do not say how to tell a node app from a form app (their own form app
        carries a ``cost``), so for an app with a ``cost`` the estimate is a range:
        ``low``, ``high`` (``count * max(1, cost)``, what budgets reserve) and ``exact``
        false.  Without a ``cost`` it is exact.
        """
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValidationError("count", f"must be a positive integer, got {count!r}")
        if isinstance(enhances, bool) or not isinstance(enhances, int) or enhances < 0:
            raise ValidationError("enhances", f"must be a non-negative integer, got {enhances!r}")
        details = await self.app_cache.get(self, app, None) if isinstance(app, str) else app
        return cost_of(details, count, enhances)

    def batch(
        self,
        *,
        concurrency: int = 8,
        journal: str | os.PathLike[str] | JournalStore | None = None,
        download_to: str | os.PathLike[str] | None = None,
        budget: int | None = None,
        resubmit_unknown: bool = False,
        language: str | Language | None = None,
        on_event: Listener | None = None,
    ) -> Batch:
        """
        A batch of generations: ``async with client.batch(...) as batch:``.

        Args:
            concurrency: Jobs checked, uploaded and submitted at once.
            journal: A SQLite file (or a :class:`JournalStore`) recording every step, so
                that running the same batch again resumes it without paying twice.
            download_to: Save results here as they finish.
            budget: Never submit a job that could take the credits spent over this.
            resubmit_unknown: Resubmit jobs whose earlier generate may have been charged.
            language: The language to read app details in.
            on_event: Called with every :class:`Event` of the batch (each carries its
                job's ``key``): see :meth:`Batch.listening`.
        """
        return Batch(
            self,
            concurrency=concurrency,
            journal=journal,
            download_to=download_to,
            budget=budget,
            resubmit_unknown=resubmit_unknown,
            language=language,
            on_event=on_event,
        )

    # The request path -------------------------------------------------------------

    async def request(
        self,
        kind: RequestKind,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        files: Any = None,
        spend: GenerateRequest | EnhanceRequest | None = None,
    ) -> Any:
        """
        Send one API request with retries, and return the envelope's ``data``.

        Args:
            kind: Whether repeating the request is safe (see :class:`RequestKind`).
            method: The HTTP method.
            path: The path below ``/open-api/v1/a1``.
            params: Query parameters.
            headers: Extra headers (the API key is added here, not by the caller).
            json_body: A JSON body.
            files: A multipart body, as httpx takes it.
            spend: For generate and enhance, the request, carried by
                :class:`GenerationOutcomeUnknown` if the outcome cannot be known.

        Raises:
            APIError: The API's answer, as its typed subclass.
            GenerationOutcomeUnknown: A spending request may have been acted on.
            TransportError: The request could not be completed.
            UnexpectedResponseError: The answer was not the documented envelope.
        """
        if self._closed:
            raise RuntimeError("the client is closed")
        url = f"{self.origin}{API_PREFIX}{path}"
        guard = spend_guard.get() if kind is RequestKind.SPEND else None
        attempt = 0
        while True:
            try:
                return await self._attempt(method, url, params, headers, json_body, files, guard)
            except _Attempt as failed:
                decision = classify(kind, failed.failure)
                if guard is not None and failed.failure in _UNPAID and failed.sending:
                    # Say so before any wait: a cancellation from here on must not
                    # leave the request looking as if it may have been charged.
                    with anyio.CancelScope(shield=True):
                        await guard.unpaid()
                final = decision is not Decision.RETRY or attempt >= self.retry.max_retries
                if final:
                    if decision is Decision.OUTCOME_UNKNOWN and spend is not None:
                        raise GenerationOutcomeUnknown(spend, failed.error) from failed.error
                    raise failed.error from failed.error.__cause__
                delay = compute_backoff(
                    self.retry,
                    attempt,
                    jitter=self._random.random(),
                    retry_after=failed.retry_after,
                )
                if self._listeners:
                    self._listeners.emit(Event(EventKind.RETRYING, error=failed.error))
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
        json_body: Any,
        files: Any,
        guard: SpendGuard | None = None,
    ) -> Any:
        request = self._http.build_request(
            method,
            url,
            params=params,
            headers={**(headers or {}), "apiKey": self._api_key.reveal()},
            json=json_body,
            files=files,
        )
        limiter = self._limiter
        permit = await limiter.acquire()
        try:
            if guard is not None:
                await guard.sending()
            try:
                try:
                    response = await self._http.send(request, stream=True, follow_redirects=False)
                except httpx.HTTPError as error:
                    raise _Attempt.from_transport(error) from None
                try:
                    body = await _read_bounded(response)
                except httpx.HTTPError as error:
                    raise _Attempt.from_transport(error, sent=True) from None
                finally:
                    await response.aclose()
                if logger.isEnabledFor(logging.DEBUG):
                    shown = request.url.copy_with(query=None)
                    logger.debug("%s %s -> %d", method, shown, response.status_code)
                try:
                    data = self._parse(response, body)
                except _Attempt as failed:
                    if failed.failure is Failure.RATE_LIMITED:
                        limiter.refused(permit, failed.retry_after)
                    elif failed.failure is Failure.REJECTED:
                        limiter.accepted(permit)  # a definitive answer: the rate was fine
                    raise
            except _Attempt as failed:
                failed.sending = guard is not None
                raise
            limiter.accepted(permit)
            return data
        finally:
            # Transport errors, gateway pages, cancellation: nothing about the rate.
            limiter.release(permit)

    def _parse(self, response: httpx.Response, body: bytes | None) -> Any:
        status = response.status_code
        if response.is_redirect:
            location = response.headers.get("location", "")
            raise _Attempt(Failure.REJECTED, UnexpectedRedirectError(status, location))
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        envelope = None if body is None else _load_envelope(body)
        if envelope is None:
            error: A1ArtError
            if status == 429:
                error = RateLimitError(
                    20000, "too many requests (HTTP 429)", status=status, retry_after=retry_after
                )
                raise _Attempt(Failure.RATE_LIMITED, error, retry_after)
            reason = (
                "the body is too large to be an API envelope"
                if body is None
                else ("the body is not the API's JSON envelope")
            )
            error = UnexpectedResponseError(reason, status=status, excerpt=self._excerpt(body))
            raise _Attempt(Failure.SERVER_FAILED, error)
        code = envelope["code"]
        if code == 0:
            if status >= 400:
                error = UnexpectedResponseError(
                    "an HTTP error with a success envelope",
                    status=status,
                    excerpt=self._excerpt(body),
                )
                raise _Attempt(Failure.SERVER_FAILED, error)
            return envelope.get("data")
        msg, msg_cn = envelope.get("msg"), envelope.get("msg_cn")
        api = api_error(
            code,
            self._redact(msg if isinstance(msg, str) else ""),
            self._redact(msg_cn if isinstance(msg_cn, str) else ""),
            status=status,
            retry_after=retry_after,
        )
        if isinstance(api, RateLimitError) or status == 429:
            raise _Attempt(Failure.RATE_LIMITED, api, retry_after)
        if isinstance(api, ServerError) or status >= 500:
            raise _Attempt(Failure.SERVER_FAILED, api, retry_after)
        raise _Attempt(Failure.REJECTED, api)

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key.reveal(), "<secret>")

    def _excerpt(self, body: bytes | None) -> str:
        if not body:
            return ""
        text = body[: _EXCERPT_CHARS * 4].decode("utf-8", "replace")
        text = " ".join(self._redact(text).split())
        return text[:_EXCERPT_CHARS] + ("..." if len(text) > _EXCERPT_CHARS else "")


#: Failures that prove an attempt was not charged: refused for the rate, rejected
#: outright by the API, or never sent.
_UNPAID: Final = frozenset({Failure.RATE_LIMITED, Failure.REJECTED, Failure.NOT_SENT})


class _Attempt(Exception):
    """
    One failed attempt: the error to raise if it is not retried, and why it failed.
    """

    def __init__(
        self, failure: Failure, error: A1ArtError, retry_after: float | None = None
    ) -> None:
        super().__init__(str(error))
        self.failure = failure
        self.error = error
        self.retry_after = retry_after
        #: Whether a spend guard was told this attempt was being sent.
        self.sending = False

    @classmethod
    def from_transport(cls, error: httpx.HTTPError, *, sent: bool = False) -> _Attempt:
        # Connect errors and pool timeouts happen before a byte of the request leaves
        # this process; every other transport error may come after the server read it.
        if not sent and isinstance(
            error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout
        ):
            wrapped: TransportError = ConnectError(f"could not connect: {error}")
            failure = Failure.NOT_SENT
        elif isinstance(error, httpx.TimeoutException):
            wrapped = TimeoutError(f"no answer in time: {type(error).__name__}")
            failure = Failure.NO_ANSWER
        else:
            wrapped = TransportError(
                f"the request did not complete: {type(error).__name__}: {error}"
            )
            failure = Failure.NO_ANSWER
        wrapped.__cause__ = error
        return cls(failure, wrapped)


async def _read_bounded(response: httpx.Response) -> bytes | None:
    """
    Read a body up to the envelope limit; ``None`` means it was larger.
    """
    chunks: list[bytes] = []

    async def keep(chunk: bytes) -> None:
        chunks.append(chunk)

    if not await read_capped(response, _MAX_ENVELOPE_BYTES, keep):
        return None
    return b"".join(chunks)


def _load_envelope(body: bytes) -> dict[str, Any] | None:
    """
    The documented envelope, or ``None`` if the body is not one.
    """
    try:
        envelope = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(envelope, dict):
        return None
    code = envelope.get("code")
    if isinstance(code, bool) or not isinstance(code, int):
        return None
    return envelope
