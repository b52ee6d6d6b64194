"""
``AsyncClient``: the a1.art Open API on the engine.

The engine's client core (:class:`~._engine._client.ClientCore`) owns the connection
pool, the key, the request budget, the retries, the polling scheduler and the
lifecycle; a1.art's wire format (``_wire.py``) says what each answer means.  This module
adds the region, the five endpoints (``_resources.py``) and the
generate/estimate/batch facade on top of them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Unpack, overload

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
from ._engine._batch import POSTGRES_SCHEMES
from ._engine._client import ClientCore, required_key
from ._engine._cost import CostEstimate
from ._engine._events import Listener
from ._engine._learn import Durations
from ._engine._limiter import RateLimit, TokenSource
from ._engine._retry import RetryPolicy
from ._engine._schedule import PollPolicy
from ._exceptions import ValidationError
from ._generation import AppCache, GenerateArgs, GenerateOptions, Generator, cost_of
from ._handles import TaskHandle
from ._models import App, Language, Task, save_task
from ._resources import Apps, Images, TaskPoller, Tasks
from ._wire import A1ArtWire, auth

if TYPE_CHECKING:
    from ._engine._journal import JournalStore, SharedJournalStore
    from .distributed._batch import DistributedBatch
    from .distributed._journal import PostgresJournal


class AsyncClient(ClientCore[Task]):
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
        transport: An httpx transport for a client this one creates, e.g. the emulator's;
            or ``"aiohttp"``: httpx's API over aiohttp's connection pool, several times
            less CPU per request (asyncio only; needs the ``fast`` extra).
        poll_policy: When and how often to poll tasks that somebody waits for.
        rate_limit: The request budget shared by every request of this client: a
            :class:`RateLimit`, or a number as a ceiling in requests per second.  By
            default the rate adapts to the server's refusals (code 20000, HTTP 429);
            see :class:`RateLimit` for the algorithm and its parameters.
        token_source: Where the budget's tokens come from, for a budget shared by
            several processes (see ``a1art_async.distributed``); this client's own
            bucket by default.

    Use it as ``async with AsyncClient() as client:``, or call :meth:`aclose`.  Waiting
    for tasks (``handle.result()``, ``client.tasks.wait``, ``as_completed``) needs the
    ``async with`` form: it runs the polling scheduler in a task group that the block
    owns, so nothing it starts outlives the client.
    """

    provider: ClassVar[str] = "a1art"

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
        transport: httpx.AsyncBaseTransport | Literal["aiohttp"] | None = None,
        poll_policy: PollPolicy | None = None,
        rate_limit: float | RateLimit | None = None,
        token_source: TokenSource | None = None,
    ) -> None:
        secret = required_key(api_key, "A1ART_API_KEY")
        if region not in API_ORIGINS:
            raise ValidationError("region", f"must be one of {', '.join(API_ORIGINS)}")
        self.region: Region = region
        self.origin = normalize_origin(base_url or API_ORIGINS[region])
        super().__init__(
            base=self.origin + API_PREFIX,
            auth=auth(secret),
            secret=secret,
            wire=A1ArtWire(),
            poller=TaskPoller,
            poll_policy=poll_policy or PollPolicy(),
            timeout=timeout,
            limits=limits,
            max_retries=max_retries,
            retry=retry,
            http_client=http_client,
            transport=transport,
            rate_limit=rate_limit,
            token_source=token_source,
        )
        self._apps = Apps(self._session)
        self._images = Images(self._session, self._scheduler, region)
        self._tasks = Tasks(self._session, self._scheduler, region)
        self._generator = Generator(self._apps, self._images)

    def __repr__(self) -> str:
        return f"<AsyncClient origin={self.origin!r} region={self.region!r}>"

    @property
    def durations(self) -> Durations:
        """
        What the scheduler learned of each app's task durations, which it polls by (see
        :class:`PollPolicy`): ``client.durations.export()`` is a small JSON-ready dict,
        and ``other_client.durations.load(exported)`` starts another client warm.
        """
        return self._scheduler.durations

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
        ``events``, ``track`` and ``resume``.
        """
        return self._tasks

    @property
    def app_cache(self) -> AppCache:
        """
        App details fetched by ``generate`` and batches, reused for a minute.
        """
        return self._generator.cache

    async def download(
        self, task: Task | TaskHandle, directory: str | os.PathLike[str]
    ) -> list[Path]:
        """
        Save a completed task's result files into *directory*, atomically, named
        ``<task_id>-<n>.<ext>``; no API key is sent to the file host.

        Raises:
            ValidationError: The task has not completed.
            ResultExpiredError: A result URL answered 403 or 404.
            DownloadError: A file could not be saved after retries.
        """
        record = task.task if isinstance(task, TaskHandle) else task
        if record is None:
            raise ValidationError("task", "the task has not been polled yet: wait for it first")
        return await save_task(record, self.http, directory, retry=self.retry)

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
        return await self._generator.generate(app, GenerateArgs(**options), language=language)

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
        details = None if app is None else await self._generator.app(app, None)
        return cost_of(details, count, enhances)

    @overload
    def batch(
        self,
        *,
        journal: PostgresJournal,
        batch: str | None = None,
        workers: int = 1,
        language: str | Language | None = None,
        concurrency: int = 8,
        download_to: str | os.PathLike[str] | None = None,
        budget: int | None = None,
        resubmit_unknown: bool = False,
        on_event: Listener | None = None,
        shard_size: int = 1000,
    ) -> DistributedBatch: ...

    @overload
    def batch(
        self,
        *,
        journal: os.PathLike[str] | JournalStore | None = None,
        language: str | Language | None = None,
        concurrency: int = 8,
        download_to: str | os.PathLike[str] | None = None,
        budget: int | None = None,
        resubmit_unknown: bool = False,
        on_event: Listener | None = None,
    ) -> Batch: ...

    @overload
    def batch(
        self,
        *,
        journal: str | SharedJournalStore,
        batch: str | None = None,
        workers: int | None = None,
        language: str | Language | None = None,
        concurrency: int = 8,
        download_to: str | os.PathLike[str] | None = None,
        budget: int | None = None,
        resubmit_unknown: bool = False,
        on_event: Listener | None = None,
        shard_size: int | None = None,
    ) -> Batch | DistributedBatch: ...

    def batch(
        self, *, language: str | Language | None = None, **options: Any
    ) -> Batch | DistributedBatch:
        """
        A batch of generations: ``async with client.batch(...) as batch:``.

        Its type follows the journal: a :class:`Batch` for none, a ``Path``, or a
        :class:`JournalStore`; a ``DistributedBatch`` for a ``PostgresJournal`` (both
        have ``add``, ``async for`` and ``summary``); for a string, which may be a
        SQLite file or a ``postgresql://`` URL, either (pass ``Path("run.sqlite")`` or a
        ``PostgresJournal`` for the exact type).

        Args:
            language: The language to read app details in.
            **options: ``concurrency`` (jobs checked, uploaded and submitted at once),
                ``journal`` (a SQLite file or a :class:`JournalStore` recording every
                step, so that running the same batch again resumes it without paying
                twice; a ``postgresql://`` URL with ``batch=NAME`` and ``workers=N``
                for a batch shared by workers on many machines, see
                ``a1art_async.distributed``), ``download_to`` (save results here as
                they finish), ``budget`` (never submit a job that could take the
                credits spent over this),
                ``resubmit_unknown`` (submit again jobs whose earlier generate may have
                been charged) and ``on_event`` (called with every :class:`Event`, each
                with its job's key; see :meth:`Batch.listening`; for a distributed
                batch, the events of the jobs this process's workers run).
        """
        journal = options.get("journal")
        if (isinstance(journal, str) and journal.startswith(POSTGRES_SCHEMES)) or (
            type(journal).__name__ == "PostgresJournal"
        ):
            # A batch shared by workers (the postgres extra, imported only here).
            from .distributed._batch import DistributedBatch

            return DistributedBatch(self, language=language, **options)
        return Batch(
            generator=self._generator,
            tasks=self._tasks,
            language=language,
            **self._batch_engine(),
            **options,
        )
