"""
The fault matrix: one mixed workload, run against the emulator with each fault knob on
alone and several together, and the figures that say whether the SDK held up.

``tests/test_fault_matrix.py`` runs every cell with a few jobs in virtual time (and one
over loopback HTTP); ``nox -s soak`` (``benchmarks/soak.py``) runs the same cells with
more jobs and seeds and writes the figures to ``benchmarks/results/soak.json``.

The workload mixes every way of spending credits: jobs of a batch (form, node, group
photo and video apps, journaled to SQLite, results downloaded), the same apps through
``client.generate`` + ``handle.result()`` + ``task.download()``, and enhances (upload,
``submit_enhance``, wait, download), all at once on one client.

To count generate calls *per job* from the emulator's journal, the client's transport
is wrapped by :class:`Tagger`: it knows each job's images (every job's are unique),
learns the ``imageUrl`` each upload returned, and stamps every upload, generate and
enhance request with the job's key in an ``x-matrix-job`` header, which the journal
records.  The SDK itself is untouched.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import struct
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal, Protocol, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread
import attrs
import httpx

import a1art_async as a1
from a1art_async.testing import Emulator, Faults, apps, png_bytes

TAG: Final = "x-matrix-job"

#: Retries for every cell: quick, so that real-time runs stay short, and patient enough
#: to ride out a 20 % fault rate.
RETRY: Final = a1.RetryPolicy(max_retries=6, initial=0.2, cap=2.0)
#: The client's timeout in every cell; the timeout cell's latency goes past it.
TIMEOUT: Final = 10.0
#: The first poll may not come earlier than this after the task was created (the
#: docs' advice, the default ``PollPolicy.first_delay``); virtual clocks may wake a
#: sleeper within a microsecond of its deadline.
FIRST_POLL: Final = 5.0
_SLACK: Final = 1e-6
_SPIN: Final = 1e-5

T = TypeVar("T")

#: Journal outcomes of a spending request that provably did nothing: it never reached
#: the service, or the rate limiter turned it away unread.  Only after these may the
#: same request be sent again (and after 324013, which refuses a stale version unread).
UNACTED: Final = frozenset({"dropped_before", "rate_limited"})
APP_UPDATED: Final = 324013

Route = Literal["batch", "generate", "enhance"]
State = Literal["done", "failed", "unknown", "unhandled"]


# The cells ----------------------------------------------------------------------------


@attrs.frozen
class Window:
    """
    Knobs switched on *start* seconds into a run and back off at *stop*.
    """

    start: float
    stop: float
    knobs: Mapping[str, Any]


@attrs.frozen
class Cell:
    """
    One row of the matrix: fault knobs on from the start, and knobs on for a window.

    ``shows`` is what proves the knob acted: a journal outcome (``rate_limited``), an
    envelope code (``code 324013``) or the class of an error a job ended with.
    """

    name: str
    knobs: Mapping[str, Any] = attrs.field(factory=dict)
    windows: tuple[Window, ...] = ()
    shows: str | None = None
    #: Over loopback HTTP only when it finishes in real seconds (no stuck tasks).
    http: bool = True
    #: Read every app's details into the client's cache before the faults start, so
    #: that every job plans with the same version: a cell about republishing then meets
    #: 324013 whatever order the jobs run in.
    warm_apps: bool = False


_ELSEWHERE: Final = "https://elsewhere.example"

#: Each knob alone.
SINGLE: Final = (
    Cell("baseline"),
    Cell("rate_limit_20000", {"rate_limit": 4.0}, shows="rate_limited"),
    Cell("rate_limit_429", {"rate_limit": 4.0, "rate_limit_http_429": True}, shows="code 20000"),
    Cell("server_error_2000x", {"server_error_rate": 0.2}, shows="server_error"),
    Cell("http_500_html", {"http_5xx_rate": 0.2, "http_5xx_status": 500}, shows="http_5xx"),
    Cell("http_502_html", {"http_5xx_rate": 0.2, "http_5xx_status": 502}, shows="http_5xx"),
    Cell("http_503_html", {"http_5xx_rate": 0.2, "http_5xx_status": 503}, shows="http_5xx"),
    Cell("malformed_json", {"malformed_json_rate": 0.2}, shows="malformed"),
    Cell("drop_before_send", {"drop_before_rate": 0.2}, shows="dropped_before"),
    Cell("drop_after_send", {"drop_after_rate": 0.2}, shows="dropped_after"),
    Cell("slow_within_timeout", {"latency": 3.0}),
    Cell(
        "slow_past_timeout",
        {"latency": TIMEOUT + 2, "endpoints": ["generate", "optimize"]},
        shows="GenerationOutcomeUnknown",
    ),
    Cell("version_bump", {"version_bump_after": 1}, shows="code 324013", warm_apps=True),
    Cell("task_failure", {"task_failure_rate": 0.3}, shows="TaskFailedError"),
    Cell("task_stuck", {"task_stuck_rate": 0.3}, shows="TaskTimeoutError", http=False),
    Cell("task_queue", {"task_concurrency": 2}),
    Cell("result_expiry", {"result_ttl": 1.0}, shows="ResultExpiredError"),
    Cell("redirect", {"redirect_to": _ELSEWHERE}, shows="UnexpectedRedirectError"),
    Cell(
        "redirect_mid_run",
        windows=(Window(15, 40, {"redirect_to": _ELSEWHERE}),),
        shows="UnexpectedRedirectError",
    ),
    # Over loopback the oversized body goes out chunked, without a length to run past:
    # a file of 64 MiB, within the size cap, which is not a fault the client can see.
    Cell("oversized_download", {"oversized_download": True}, shows="DownloadError", http=False),
    Cell(
        "cdn_faults",
        {"drop_after_rate": 0.2, "http_5xx_rate": 0.2, "endpoints": ["file"]},
        shows="http_5xx",
    ),
    Cell(
        "upload_outage",
        {"http_5xx_rate": 1.0, "endpoints": ["upload"]},
        shows="UnexpectedResponseError",
    ),
)

_NETWORK: Final = {
    "rate_limit": 8.0,
    "server_error_rate": 0.05,
    "http_5xx_rate": 0.05,
    "malformed_json_rate": 0.05,
    "drop_before_rate": 0.05,
    "drop_after_rate": 0.05,
}

#: Several together.
COMBINED: Final = (
    Cell("network", _NETWORK),
    Cell(
        "tasks",
        {
            "version_bump_after": 3,
            "task_failure_rate": 0.15,
            "task_stuck_rate": 0.1,
            "task_concurrency": 4,
            "result_ttl": 4.0,
        },
        http=False,
    ),
    Cell(
        "everything",
        {
            **_NETWORK,
            "rate_limit_http_429": True,
            "http_5xx_status": 503,
            "latency": 1.0,
            "version_bump_after": 3,
            "task_failure_rate": 0.1,
            "task_stuck_rate": 0.05,
            "task_concurrency": 6,
            "result_ttl": 30.0,
        },
        windows=(
            Window(20, 30, {"redirect_to": _ELSEWHERE}),
            Window(45, 60, {"latency": TIMEOUT + 2}),
        ),
        http=False,
    ),
)

CELLS: Final = {cell.name: cell for cell in (*SINGLE, *COMBINED)}

#: The cell that runs over loopback HTTP in CI: several faults at once, in real seconds.
HTTP_CELL: Final = Cell(
    "network+tasks",
    {**_NETWORK, "rate_limit": 50.0, "version_bump_after": 3, "task_failure_rate": 0.15},
)


# The workload ---------------------------------------------------------------------------


@attrs.frozen
class Job:
    """
    One unit of work and how it is sent.
    """

    key: str
    route: Route
    app: str | None
    images: tuple[bytes, ...]
    options: Mapping[str, Any] = attrs.field(factory=dict)
    count: int = 1


_KINDS: Final[tuple[tuple[Route, str | None], ...]] = (
    ("batch", apps.FORM),
    ("batch", apps.NODE),
    ("batch", apps.GROUP_PHOTO),
    ("batch", apps.VIDEO),
    ("generate", apps.FORM),
    ("generate", apps.GROUP_PHOTO),
    ("enhance", None),
    ("generate", apps.NODE),
    ("generate", apps.VIDEO),
)
_NAMES: Final = {
    apps.FORM: "form",
    apps.NODE: "node",
    apps.GROUP_PHOTO: "group",
    apps.VIDEO: "video",
    None: "enhance",
}


def _image(index: int, position: int) -> bytes:
    # Unique bytes per job and position: the size encodes both.
    return png_bytes(16 + index % 200, 16 + 3 * (index // 200) + position)


def make_jobs(count: int) -> list[Job]:
    """
    *count* jobs cycling through every route and kind of app.
    """
    jobs: list[Job] = []
    for index in range(count):
        route, app = _KINDS[index % len(_KINDS)]
        key = f"j{index:04d}-{route}-{_NAMES[app]}"
        first = _image(index, 0)
        if app == apps.GROUP_PHOTO:
            second = _image(index, 1)
            pair: Any = {"0": first, "1": second} if route == "batch" else [first, second]
            jobs.append(
                Job(
                    key,
                    route,
                    app,
                    (first, second),
                    {"images": pair, "style": "Polaroid", "aspect": "4:3"},
                )
            )
        elif app == apps.FORM:
            # Two images from the batch's form jobs in the first round, then the other way.
            count_ = 1 + (index // len(_KINDS) + (route == "batch")) % 2
            options = {
                "image": first,
                "prompt": f"pet number {index}",
                "style": "High Quality Anmie",
                "aspect": "16:9",
                "count": count_,
            }
            jobs.append(Job(key, route, app, (first,), options, count_))
        elif app is None:
            jobs.append(Job(key, route, None, (first,)))
        else:
            jobs.append(Job(key, route, app, (first,), {"image": first, "prompt": f"job {index}"}))
    return jobs


# Tagging requests with their job -------------------------------------------------------


class _Tee(httpx.AsyncByteStream):
    """
    Passes a response body through unchanged and hands the whole of it to *done*.
    """

    def __init__(self, inner: httpx.AsyncByteStream, done: Callable[[bytes], None]) -> None:
        self._inner = inner
        self._done = done

    def __aiter__(self) -> AsyncIterator[bytes]:
        return _TeeChunks(self._inner, self._done)

    async def aclose(self) -> None:
        await self._inner.aclose()


class _TeeChunks:
    # A plain iterator, not an async generator: nothing is left to finalize if the
    # reader stops early.
    def __init__(self, inner: httpx.AsyncByteStream, done: Callable[[bytes], None]) -> None:
        self._chunks = inner.__aiter__()
        self._done = done
        self._seen: list[bytes] = []

    def __aiter__(self) -> _TeeChunks:
        return self

    async def __anext__(self) -> bytes:
        try:
            chunk = await self._chunks.__anext__()
        except StopAsyncIteration:
            self._done(b"".join(self._seen))
            raise
        self._seen.append(chunk)
        return chunk


class Tagger(httpx.AsyncBaseTransport):
    """
    Stamps uploads, generates and enhances with the key of the job they belong to.

    Args:
        inner: The transport that does the work.
        jobs: The workload; every job's images are unique bytes.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, jobs: Sequence[Job]) -> None:
        self._inner = inner
        self._by_image = {image: job.key for job in jobs for image in job.images}
        self._by_url: dict[str, str] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        job: str | None = None
        if path.endswith("/images/upload"):
            body = await request.aread()
            job = next((key for image, key in self._by_image.items() if image in body), None)
        elif path.endswith(("/images/generate", "/images/optimize")):
            job = self._spender(await request.aread())
        if job is not None:
            request.headers[TAG] = job
        response = await self._inner.handle_async_request(request)
        if job is not None and path.endswith("/images/upload"):
            try:  # in-process answers arrive already read
                self._learn(job, response.content)
            except httpx.ResponseNotRead:
                tee = _Tee(response.stream, lambda body: self._learn(job, body))  # type: ignore[arg-type]
                response.stream = tee
        return response

    def _learn(self, job: str, body: bytes) -> None:
        with contextlib.suppress(ValueError, TypeError, KeyError):
            self._by_url[json.loads(body)["data"]["imageUrl"]] = job

    def _spender(self, body: bytes) -> str | None:
        try:
            payload = json.loads(body)
            cnet = payload.get("cnet") or [payload]
            return self._by_url.get(cnet[0]["imageUrl"])
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            return None

    async def aclose(self) -> None:
        await self._inner.aclose()


# Where the emulator runs -----------------------------------------------------------------


class Target(Protocol):
    """
    An emulator the workload runs against: in process, or over loopback HTTP.
    """

    kind: str
    api_key: str
    api_origin: str
    base_url: str | None

    def transport(self) -> httpx.AsyncBaseTransport: ...

    async def set_faults(self, knobs: Mapping[str, Any]) -> None: ...

    async def journal(self) -> list[dict[str, Any]]: ...

    async def charged(self) -> int: ...


class InProcess:
    """
    The emulator as an httpx transport, on the event loop's (virtual) clock.
    """

    kind = "in-process"
    base_url: str | None = None

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.api_key = emulator.api_key
        self.api_origin = emulator.api_origin

    def transport(self) -> httpx.AsyncBaseTransport:
        return self.emulator.transport()

    async def set_faults(self, knobs: Mapping[str, Any]) -> None:
        self.emulator.faults.update(knobs)

    async def journal(self) -> list[dict[str, Any]]:
        return [attrs.asdict(entry) for entry in self.emulator.journal]

    async def charged(self) -> int:
        return self.emulator.charged()


class Loopback:
    """
    ``python -m a1art_async.testing serve`` in another process, steered through its
    admin endpoints.

    Args:
        banner: The ``base_url``, ``cdn_url`` and ``api_key`` lines it printed.
        admin: A plain httpx client for the admin endpoints.
    """

    kind = "http"

    def __init__(self, banner: Mapping[str, str], admin: httpx.AsyncClient) -> None:
        self.api_key = banner["api_key"]
        self.base_url: str | None = banner["base_url"]
        self.api_origin = banner["base_url"]
        self._admin = admin

    def transport(self) -> httpx.AsyncBaseTransport:
        return httpx.AsyncHTTPTransport()

    async def set_faults(self, knobs: Mapping[str, Any]) -> None:
        response = await self._admin.post(f"{self.api_origin}/_emulator/faults", json=dict(knobs))
        response.raise_for_status()

    async def journal(self) -> list[dict[str, Any]]:
        response = await self._admin.get(f"{self.api_origin}/_emulator/journal")
        response.raise_for_status()
        entries: list[dict[str, Any]] = response.json()
        return entries

    async def charged(self) -> int:
        response = await self._admin.get(f"{self.api_origin}/_emulator/stats")
        response.raise_for_status()
        return int(response.json()["charged"])


#: Every knob off, as the admin endpoint takes them.
OFF: Final = Faults().to_json()


# Running a cell -----------------------------------------------------------------------


@attrs.frozen
class Result:
    """
    How one job ended, as the SDK reported it.
    """

    key: str
    state: State
    error: BaseException | None = None
    task_id: str | None = None
    files: tuple[str, ...] = ()
    cost: int | None = None


class _Errors(logging.Handler):
    """
    Collects every ERROR record (a batch job that "failed unexpectedly", asyncio's
    "Task exception was never retrieved" or "Task was destroyed but it is pending").
    """

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.name}: {record.getMessage()}")


@contextlib.contextmanager
def _collect_errors() -> Iterator[_Errors]:
    handler = _Errors()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


@attrs.frozen
class Run:
    """
    One cell's run: what the SDK reported and what the emulator saw.
    """

    cell: Cell
    target: str
    backend: str
    seed: int
    jobs: tuple[Job, ...]
    results: tuple[Result, ...]
    estimates: Mapping[str, a1.CostEstimate]
    journal: tuple[dict[str, Any], ...]
    charged: int
    api_origin: str
    errors: tuple[str, ...]
    #: Every public object the workload held: client, batch, handles, tasks, outcomes.
    objects: tuple[object, ...]
    wall_time: float
    clock_time: float


def _classify(error: BaseException) -> State:
    if isinstance(error, a1.GenerationOutcomeUnknown):
        return "unknown"
    if isinstance(error, a1.A1ArtError):
        return "failed"
    return "unhandled"


async def _direct(
    client: a1.AsyncClient, job: Job, folder: Path, out: list[Result], kept: list[object]
) -> None:
    handle: a1.TaskHandle | None = None
    try:
        if job.route == "enhance":
            upload = await client.images.upload(job.images[0])
            kept.append(upload)
            handle = await client.images.submit_enhance(upload)
        else:
            assert job.app is not None
            handle = await client.generate(job.app, **job.options)
        kept.append(handle)
        task = await handle.result()
        kept.append(task)
        paths = await task.download(folder)
    except Exception as error:
        task_id = None if handle is None else handle.task_id
        out.append(Result(job.key, _classify(error), error, task_id))
    else:
        files = tuple(str(path) for path in paths)
        out.append(Result(job.key, "done", None, task.task_id, files))


async def _batch(
    client: a1.AsyncClient,
    jobs: Sequence[Job],
    folder: Path,
    out: list[Result],
    kept: list[object],
) -> None:
    states: dict[a1.JobState, State] = {
        a1.JobState.DONE: "done",
        a1.JobState.FAILED: "failed",
        a1.JobState.UNKNOWN: "unknown",
    }
    async with client.batch(
        concurrency=4, journal=folder / "journal.sqlite", download_to=folder / "batch"
    ) as batch:
        for job in jobs:
            assert job.app is not None
            batch.add(job.app, key=job.key, **job.options)
        kept.append(batch)
        async for outcome in batch:
            kept.append(outcome)
            state = states.get(outcome.state, "unhandled")
            if outcome.error is not None and _classify(outcome.error) == "unhandled":
                state = "unhandled"
            out.append(
                Result(
                    outcome.key, state, outcome.error, outcome.task_id, outcome.files, outcome.cost
                )
            )
    kept.append(batch.summary)


async def _switch(target: Target, cell: Cell, started: float, scale: float) -> None:
    """
    Turn each window's knobs on and off at its times (seconds times *scale*).
    """
    events: list[tuple[float, Mapping[str, Any]]] = []
    for window in cell.windows:
        restore = {name: cell.knobs.get(name, OFF[name]) for name in window.knobs}
        events += [(window.start * scale, window.knobs), (window.stop * scale, restore)]
    for when, knobs in sorted(events, key=lambda event: event[0]):
        await anyio.sleep_until(started + when)
        await target.set_faults(knobs)


@contextlib.contextmanager
def threads_take_no_time() -> Iterator[None]:
    """
    Keep a virtual clock still while a worker thread runs.

    A virtual clock jumps to the next timer as soon as every task waits, and a task
    waiting for a thread (a journal write, a chunk of a download) waits: each write
    would cost seconds of virtual time, and a wait could pass its deadline for no
    reason.  Inside this block ``anyio.to_thread.run_sync`` (which the journal and
    anyio's file functions call) keeps its caller runnable until the thread is done.
    """
    real = anyio.to_thread.run_sync

    async def run_sync(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        results: list[T] = []
        errors: list[Exception] = []
        done = False

        async def work() -> None:
            nonlocal done
            try:
                results.append(await real(func, *args, **kwargs))
            except Exception as error:
                errors.append(error)
            finally:
                done = True

        async with anyio.create_task_group() as group:
            group.start_soon(work)
            while not done:
                time.sleep(_SPIN)  # noqa: ASYNC251 - real time passes, the virtual clock stays
                await anyio.lowlevel.checkpoint()
        if errors:
            raise errors[0]
        return results[0]

    anyio.to_thread.run_sync = run_sync  # type: ignore[assignment]
    try:
        yield
    finally:
        anyio.to_thread.run_sync = real


async def estimate(target: Target, jobs: Sequence[Job]) -> dict[str, a1.CostEstimate]:
    """
    The SDK's cost estimate of each job, read with a client of its own before any fault.
    """
    estimates: dict[str, a1.CostEstimate] = {}
    async with a1.AsyncClient(
        api_key=target.api_key, base_url=target.base_url, transport=target.transport()
    ) as client:
        for job in jobs:
            if job.app is None:
                estimates[job.key] = await client.estimate_cost(enhances=1)
            else:
                estimates[job.key] = await client.estimate_cost(job.app, count=job.count)
    return estimates


async def run_cell(
    target: Target,
    cell: Cell,
    *,
    jobs: int,
    folder: Path,
    seed: int = 0,
    backend: str = "",
    poll_policy: a1.PollPolicy | None = None,
    window_scale: float = 1.0,
) -> Run:
    """
    Run the workload once against *target* with *cell*'s faults, and gather what happened.

    Args:
        target: Where the emulator runs; its faults must be off.
        cell: The faults.
        jobs: How many jobs (every route and kind of app, in turn).
        folder: Where the batch journal and downloads go.
        seed: Recorded with the figures (the emulator is seeded by its owner).
        backend: Recorded with the figures.
        poll_policy: The client's; the default ``PollPolicy`` when None.
        window_scale: Multiplies the windows' times (real-time runs are shorter).
    """
    workload = make_jobs(jobs)
    estimates = await estimate(target, workload)
    client = a1.AsyncClient(
        api_key=target.api_key,
        base_url=target.base_url,
        transport=Tagger(target.transport(), workload),
        timeout=TIMEOUT,
        retry=RETRY,
        poll_policy=poll_policy,
    )
    if cell.warm_apps:
        for app_id in sorted({job.app for job in workload if job.app is not None}):
            await client.app_cache.get(app_id, None)
    before = len(await target.journal())
    charged_before = await target.charged()
    await target.set_faults(cell.knobs)
    results: list[Result] = []
    kept: list[object] = [client]
    # In process the clock is virtual; over loopback HTTP it is real.
    still = threads_take_no_time() if target.kind == "in-process" else contextlib.nullcontext()
    wall, started = time.perf_counter(), anyio.current_time()
    with _collect_errors() as errors, still:
        async with client, anyio.create_task_group() as switches:
            switches.start_soon(_switch, target, cell, started, window_scale)
            async with anyio.create_task_group() as work:
                batched = [job for job in workload if job.route == "batch"]
                work.start_soon(_batch, client, batched, folder, results, kept)
                for job in workload:
                    if job.route != "batch":
                        work.start_soon(_direct, client, job, folder / "direct", results, kept)
            switches.cancel_scope.cancel()
    wall, clock = time.perf_counter() - wall, anyio.current_time() - started
    await target.set_faults(OFF)
    journal = (await target.journal())[before:]
    return Run(
        cell=cell,
        target=target.kind,
        backend=backend,
        seed=seed,
        jobs=tuple(workload),
        results=tuple(results),
        estimates=estimates,
        journal=tuple(journal),
        charged=await target.charged() - charged_before,
        api_origin=target.api_origin,
        errors=tuple(errors.messages),
        objects=tuple(kept),
        wall_time=wall,
        clock_time=clock,
    )


# Checking a run and its figures ------------------------------------------------------------


def intact(path: str) -> bool:
    """
    Whether a saved result is a whole PNG or MP4 and nothing more.
    """
    data = Path(path).read_bytes()
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return data.endswith(b"IEND\xaeB`\x82")
    offset = 0
    while offset < len(data):  # ISO-BMFF: boxes that tile the file exactly
        if offset + 8 > len(data):
            return False
        size = struct.unpack(">I", data[offset : offset + 4])[0]
        if size < 8:
            return False
        offset += size
    return offset == len(data) and data[4:8] == b"ftyp"


@attrs.frozen
class Figures:
    """
    One cell's figures, and every way in which it broke the rules.

    Attributes:
        generate_calls_per_job: The most generate (or enhance) requests any job sent
            that may have been acted on; 1 is the rule.
        requests_per_job: Generate and enhance requests per job that sent any,
            counting resends after requests that provably never arrived.
        credits_estimated: The most the SDK estimated, summed over the jobs whose task
            was created (from the journal).
        credits_estimated_low: The least it estimated for them: the two differ for
            apps whose charge the docs leave open (see ``a1art_async.CostEstimate``).
        earliest_poll: The smallest gap between a task's creation and its first poll.
        seen: Journal outcomes, envelope codes and the errors jobs ended with.
        violations: Every broken rule, in words; empty when the cell passed.
    """

    cell: str
    target: str
    backend: str
    seed: int
    jobs: int
    done: int
    failed: int
    unknown: int
    generate_calls_per_job: int
    requests_per_job: float
    tasks: int
    credits_charged: int
    credits_estimated: int
    credits_estimated_low: int
    earliest_poll: float | None
    polls: int
    wall_time: float
    clock_time: float
    seen: tuple[str, ...]
    violations: tuple[str, ...]

    def row(self) -> dict[str, Any]:
        """
        The figures as a JSON-ready dict.
        """
        return attrs.asdict(self)


def figures(run: Run) -> Figures:
    """
    Count a run's figures and check every rule of the matrix against them.
    """
    problems: list[str] = [f"logged: {message}" for message in run.errors]
    keys = [result.key for result in run.results]
    expected = {job.key for job in run.jobs}
    repeated = sorted(key for key, n in Counter(keys).items() if n > 1)
    if repeated:
        problems.append(f"jobs ended more than once: {repeated}")
    if missing := sorted(expected - set(keys)):
        problems.append(f"jobs never ended: {missing}")
    for result in run.results:
        if result.state == "unhandled":
            problems.append(f"{result.key}: not an SDK error: {result.error!r}")
        elif result.state == "failed" and isinstance(result.error, a1.GenerationOutcomeUnknown):
            problems.append(f"{result.key}: outcome-unknown reported as failed")

    api_origin = run.api_origin
    for entry in run.journal:
        if entry["key"] is not None and entry["origin"] != api_origin:
            problems.append(f"the API key reached {entry['origin']}{entry['path']}")

    spends: dict[str, list[dict[str, Any]]] = defaultdict(list)
    created: dict[str, tuple[str | None, float]] = {}
    polls: dict[str, list[float]] = defaultdict(list)
    for entry in run.journal:
        job = entry["headers"].get(TAG)
        if entry["endpoint"] in ("generate", "optimize"):
            if job is not None:
                spends[job].append(entry)
            if entry["task_id"] is not None:
                created[entry["task_id"]] = (job, entry["time"])
        elif entry["endpoint"] == "tasks" and entry["task_id"] is not None:
            polls[entry["task_id"]].append(entry["time"])
    if untagged := sorted(task for task, (job, _) in created.items() if job is None):
        problems.append(f"tasks created by no job: {untagged}")

    tasks_of: dict[str, list[str]] = defaultdict(list)
    for task_id, (job, _) in created.items():
        if job is not None:
            tasks_of[job].append(task_id)
    acting_max = 0
    for job, entries in spends.items():
        for entry in entries[:-1]:
            unacted = entry["outcome"] in UNACTED or entry["code"] == APP_UPDATED
            if not unacted:
                problems.append(f"{job}: resent after {entry['outcome']} ({entry['code']})")
        acting = sum(1 for e in entries if e["outcome"] not in UNACTED and e["code"] != APP_UPDATED)
        acting_max = max(acting_max, acting)
        if len(tasks_of[job]) > 1:
            problems.append(f"{job}: {len(tasks_of[job])} tasks created")

    estimated = a1.CostEstimate.exactly(0)
    for result in run.results:
        made = tasks_of.get(result.key, [])
        expected = run.estimates[result.key]
        if made:
            estimated += expected
        if result.state == "done" and made != [result.task_id]:
            problems.append(f"{result.key}: done as {result.task_id}, journal says {made}")
        if result.state == "failed" and made and made != [result.task_id]:
            problems.append(f"{result.key}: failed, but created {made} unreported")
        if result.cost is not None and made and not expected.low <= result.cost <= expected.high:
            problems.append(f"{result.key}: charged {result.cost}, estimated {expected}")
        if result.state == "done":
            job = next(job for job in run.jobs if job.key == result.key)
            if len(result.files) != job.count:
                problems.append(f"{result.key}: {len(result.files)} files, not {job.count}")
            broken = [path for path in result.files if not intact(path)]
            if broken:
                problems.append(f"{result.key}: saved files are not what was served: {broken}")
    if not estimated.low <= run.charged <= estimated.high:
        problems.append(f"charged {run.charged} credits, estimated {estimated}")

    gaps = [min(polls[task]) - when for task, (_, when) in created.items() if polls.get(task)]
    early = [gap for gap in gaps if gap < FIRST_POLL - _SLACK]
    if early:
        problems.append(f"{len(early)} tasks polled {min(early):.3f} s after creation")

    seen = {entry["outcome"] for entry in run.journal}
    seen |= {f"code {entry['code']}" for entry in run.journal if entry["code"]}
    seen |= {type(result.error).__name__ for result in run.results if result.error}
    counted = Counter(result.state for result in run.results)
    spenders = len(spends)
    return Figures(
        cell=run.cell.name,
        target=run.target,
        backend=run.backend,
        seed=run.seed,
        jobs=len(run.jobs),
        done=counted["done"],
        failed=counted["failed"],
        unknown=counted["unknown"],
        generate_calls_per_job=acting_max,
        requests_per_job=(sum(map(len, spends.values())) / spenders) if spenders else 0.0,
        tasks=len(created),
        credits_charged=run.charged,
        credits_estimated=estimated.high,
        credits_estimated_low=estimated.low,
        earliest_poll=min(gaps) if gaps else None,
        polls=sum(map(len, polls.values())),
        wall_time=run.wall_time,
        clock_time=run.clock_time,
        seen=tuple(sorted(seen)),
        violations=tuple(problems),
    )


COLUMNS: Final = (
    ("cell", "cell", "{}"),
    ("target", "target", "{}"),
    ("backend", "backend", "{}"),
    ("jobs", "jobs", "{}"),
    ("done", "done", "{}"),
    ("failed", "failed", "{}"),
    ("unknown", "unknown", "{}"),
    ("gen/job", "generate_calls_per_job", "{}"),
    ("req/job", "requests_per_job", "{:.2f}"),
    ("charged", "credits_charged", "{}"),
    ("estimated", "credits_estimated", "{}"),
    ("1st poll s", "earliest_poll", "{:.2f}"),
    ("wall s", "wall_time", "{:.2f}"),
    ("violations", "violations", "{}"),
)


def table(rows: Sequence[Mapping[str, Any]]) -> str:
    """
    Rows of figures as a Markdown table.
    """

    def cell(name: str, form: str, value: Any) -> str:
        if value is None:
            return "-"
        if name == "violations":
            return str(len(value))
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        return form.format(value)

    head = "| " + " | ".join(title for title, _, _ in COLUMNS) + " |"
    rule = "|" + "|".join(" --- " for _ in COLUMNS) + "|"
    body = [
        "| " + " | ".join(cell(name, form, row[name]) for _, name, form in COLUMNS) + " |"
        for row in rows
    ]
    return "\n".join([head, rule, *body])
