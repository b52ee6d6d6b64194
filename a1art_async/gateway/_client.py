"""
``AsyncClient``: the AI gateway's image generation API on the engine.

The engine's client core (:class:`~.._engine._client.ClientCore`) owns the connection
pool, the key, the request budget (shared by generations and task polls), the retries,
the polling scheduler and the lifecycle; the gateway's wire format (``_wire.py``) says
what each answer means.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar, Literal, Unpack

import httpx

from .._engine._batch import BatchOptions
from .._engine._client import ClientCore, required_key
from .._engine._cost import CostEstimate
from .._engine._errors import ValidationError
from .._engine._limiter import RateLimit, TokenSource
from .._engine._retry import RetryPolicy
from .._engine._schedule import PollPolicy
from ._batch import Batch
from ._config import (
    BASE_URL_VARIABLE,
    DEFAULT_LIMITS,
    DEFAULT_SYNC_TIMEOUT,
    DEFAULT_TIMEOUT,
    KEY_VARIABLE,
    finite_seconds,
    normalize_base_url,
)
from ._jobs import Generation, TaskPoller
from ._models import Result, Task
from ._pricing import Pricing
from ._resources import Images, Tasks, Timeouts
from ._wire import GatewayWire, auth


def _model_timeouts(timeouts: Mapping[str, float] | None) -> dict[str, float]:
    if timeouts is None:
        return {}
    if not isinstance(timeouts, Mapping):
        raise ValidationError("timeouts", f"must map model names to seconds, got {timeouts!r}")
    return {str(model): finite_seconds("timeouts", t) for model, t in timeouts.items()}


class AsyncClient(ClientCore[Task]):
    """
    The AI gateway's image generation API, asynchronously, on asyncio or trio.

    Args:
        api_key: The API key (``Authorization: Bearer``); defaults to the
            ``GATEWAY_API_KEY`` environment variable.
        base_url: The gateway's ``{BASE_URL}`` (required: the docs give no default);
            defaults to the ``GATEWAY_BASE_URL`` environment variable.  Plain
            ``http://`` is accepted only for loopback hosts.
        timeout: Seconds, or an ``httpx.Timeout``: connecting, and every request but a
            generation's answer.
        sync_timeout: Seconds a generation request may take to answer (its read
            timeout).  For a synchronous model the answer comes once the images exist;
            past this the request may have been charged, and it is never resent.
        timeouts: Per-model read timeouts for generation requests, instead of
            ``sync_timeout``: ``{"gpt-image-1": 600}``.
        credits: Credits per generation request by model, for estimates and batch
            budgets; models not named cost 1 (the docs give no prices).
        limits: The connection pool's limits; at most ``max_connections`` requests are
            in flight, the rest wait their turn outside httpx's pool.
        max_retries: Shorthand for ``retry=RetryPolicy(max_retries=...)``.
        retry: The full retry policy.
        http_client: An ``httpx.AsyncClient`` to use (and not close); the key is added
            per request, never to the client's defaults.
        transport: An httpx transport for a client this one creates (an emulator's);
            or ``"aiohttp"``: httpx's API over aiohttp's connection pool, several times
            less CPU per request (asyncio only; needs the ``fast`` extra).
        poll_policy: When and how often to poll tasks that somebody waits for.
        rate_limit: The request budget that generations and task polls share: a
            :class:`~a1art_async.RateLimit`, or a ceiling in requests per second; by
            default it adapts to the gateway's 429s.
        token_source: Where the budget's tokens come from (a budget shared between
            processes); this client's own bucket by default.

    Raises:
        ValidationError: No key, no base URL, or an option out of range; nothing is
            sent.

    Use it as ``async with gateway.AsyncClient(...) as client:``, or call
    :meth:`aclose`.  Waiting for tasks needs the ``async with`` form, which runs the
    polling scheduler; a synchronous model's result needs no waiting.
    """

    provider: ClassVar[str] = "gateway"

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        sync_timeout: float = DEFAULT_SYNC_TIMEOUT,
        timeouts: Mapping[str, float] | None = None,
        credits: Mapping[str, int] | None = None,
        limits: httpx.Limits = DEFAULT_LIMITS,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | Literal["aiohttp"] | None = None,
        poll_policy: PollPolicy | None = None,
        rate_limit: float | RateLimit | None = None,
        token_source: TokenSource | None = None,
    ) -> None:
        secret = required_key(api_key, KEY_VARIABLE)
        url = base_url if base_url is not None else os.environ.get(BASE_URL_VARIABLE, "")
        if isinstance(url, str) and not url.strip():
            raise ValidationError(
                "base_url",
                f"no base URL: pass base_url= or set {BASE_URL_VARIABLE} "
                "(the gateway's docs give no default host)",
            )
        self.base_url = normalize_base_url(url)
        base_timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._timeouts = Timeouts(
            base_timeout,
            finite_seconds("sync_timeout", sync_timeout),
            _model_timeouts(timeouts),
        )
        self.pricing = Pricing(credits)
        super().__init__(
            base=self.base_url,
            auth=auth(secret),
            secret=secret,
            wire=GatewayWire(),
            poller=TaskPoller,
            poll_policy=poll_policy or PollPolicy(),
            timeout=base_timeout,
            limits=limits,
            max_retries=max_retries,
            retry=retry,
            http_client=http_client,
            transport=transport,
            rate_limit=rate_limit,
            token_source=token_source,
        )
        self._images = Images(self._session, self._scheduler, self._timeouts)
        self._tasks = Tasks(self._session, self._scheduler)

    def __repr__(self) -> str:
        return f"<gateway.AsyncClient base_url={self.base_url!r}>"

    @property
    def images(self) -> Images:
        """
        Generations: ``await client.images.submit(model, prompt=...)``, ``generate``.
        """
        return self._images

    @property
    def tasks(self) -> Tasks:
        """
        Tasks: ``client.tasks.get``, ``wait``, ``as_completed``, ``events``, ``track``
        and ``resume``.
        """
        return self._tasks

    def read_timeout(self, model: str) -> float | None:
        """
        The read timeout a generation request for *model* gets, in seconds.
        """
        return self._timeouts.for_model(model).read

    def estimate_cost(self, model: str) -> CostEstimate:
        """
        What one generation request for *model* costs, from the ``credits`` table (1 for
        a model it does not name: the docs give no prices).

        Raises:
            ValidationError: An empty model.
        """
        if not isinstance(model, str) or not model.strip():
            raise ValidationError("model", f"must be a non-empty string, got {model!r}")
        return self.pricing.estimate(model.strip())

    async def download(
        self, result: Result | Generation, directory: str | os.PathLike[str]
    ) -> list[Path]:
        """
        Save a finished generation's images into *directory*, atomically, named
        ``<task_id>-<n>.<ext>``: bytes that came inline are written, URLs streamed with
        this client's pool and retries (no key is sent to a file host).

        Raises:
            ValidationError: A generation that has not finished with images.
            ResultExpiredError: A URL answered 403, 404 or 410.
            DownloadError: A file could not be saved after retries.
        """
        if isinstance(result, Generation):
            task = result.task
            if task is None or task.result is None:
                raise ValidationError("result", "the generation has no images yet: wait for it")
            result = task.result
        return await result.save(directory, http=self.http, retry=self.retry)

    def batch(self, **options: Unpack[BatchOptions]) -> Batch:
        """
        A batch of generations: ``async with client.batch(...) as batch:``.

        Args:
            **options: ``concurrency`` (jobs submitted at once), ``journal`` (a SQLite
                file or a :class:`~a1art_async.JournalStore` recording every step, so
                that running the same batch again resumes it without paying twice),
                ``download_to`` (save results here as they finish), ``budget`` (never
                submit a job that could take the credits spent over this, priced from
                ``credits``), ``resubmit_unknown`` and ``on_event``.
        """
        return Batch(
            images=self._images,
            tasks=self._tasks,
            pricing=self.pricing,
            **self._batch_engine(),
            **options,
        )
