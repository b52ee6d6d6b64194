"""
The gateway's fault matrix: one mixed workload (synchronous and asynchronous models, in
a journaled batch and through ``submit`` + ``result`` + ``download``, all at once on one
client), run against the gateway emulator with each fault on alone and several
together, and the figures that say whether the SDK held up.

The rules are the a1.art matrix's (``tests/_matrix.py``), in the gateway's terms: each
job ends exactly once (done, a typed failure, or outcome-unknown); no generation request
is sent again unless the one before provably did nothing (it never arrived, or the
gateway refused it for the rate); at most one generation per job is charged; the credits
charged equal the credits estimated for the jobs that were charged; every task is polled
no earlier than 5 s after it was created; saved files are whole pictures; nothing is
logged as an error; and the key reaches the API's origin only.

Each job's prompt is its key; :class:`Tagger` wraps the client's transport and stamps
each generation request with that key in an ``x-matrix-job`` header, which the
emulator's journal records, so generation requests can be counted per job.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal, Protocol

import anyio
import attrs
import httpx

import a1art_async as a1
from a1art_async import gateway
from a1art_async.testing.gateway import Emulator, Faults, models

from ._matrix import Cell, Window, _collect_errors, intact, threads_take_no_time

TAG: Final = "x-matrix-job"
RETRY: Final = a1.RetryPolicy(max_retries=6, initial=0.2, cap=2.0)
#: The client's read timeout for generation requests in every cell.
SYNC_TIMEOUT: Final = 120.0
FIRST_POLL: Final = 5.0
_SLACK: Final = 1e-6
#: Journal outcomes of a generation request that provably did nothing.
UNACTED: Final = frozenset({"dropped_before", "rate_limited"})
#: Outcomes of a generation request the emulator acted on (charged).
ACTED: Final = frozenset({"ok", "malformed", "timeout", "dropped_after"})

Route = Literal["batch", "direct"]
State = Literal["done", "failed", "unknown", "unhandled"]

_ELSEWHERE: Final = "https://elsewhere.example"

SINGLE: Final = (
    Cell("baseline"),
    Cell("rate_limit_429", {"rate_limit": 4.0}, shows="rate_limited"),
    Cell("server_error_500", {"server_error_rate": 0.2}, shows="server_error"),
    Cell("http_502_html", {"http_5xx_rate": 0.2}, shows="http_5xx"),
    Cell("malformed_json", {"malformed_json_rate": 0.2}, shows="malformed"),
    Cell("drop_before_send", {"drop_before_rate": 0.2}, shows="dropped_before"),
    Cell("drop_after_send", {"drop_after_rate": 0.2}, shows="dropped_after"),
    Cell("slow_within_timeout", {"latency": 3.0}),
    Cell(
        "slow_sync_past_timeout",
        {"sync_latency": SYNC_TIMEOUT + 30},
        shows="GenerationOutcomeUnknown",
    ),
    Cell("task_failure", {"task_failure_rate": 0.3}, shows="TaskFailedError"),
    Cell("task_stuck", {"task_stuck_rate": 0.3}, shows="TaskTimeoutError", http=False),
    Cell("unknown_states", {"unknown_state_rate": 0.5}, shows="UnknownStateError"),
    Cell("forgotten_tasks", {"task_ttl": 0.5}),
    Cell("result_expiry", {"result_ttl": 1.0}, shows="ResultExpiredError"),
    Cell("redirect", {"redirect_to": _ELSEWHERE}, shows="UnexpectedRedirectError"),
    Cell(
        "cdn_faults",
        {"drop_after_rate": 0.2, "http_5xx_rate": 0.2, "endpoints": ["file"]},
        shows="http_5xx",
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

COMBINED: Final = (
    Cell("network", _NETWORK),
    Cell(
        "everything",
        {
            **_NETWORK,
            "latency": 1.0,
            "task_failure_rate": 0.1,
            "task_stuck_rate": 0.05,
            "unknown_state_rate": 0.1,
            "task_concurrency": 4,
            "result_ttl": 30.0,
        },
        windows=(
            Window(20, 30, {"redirect_to": _ELSEWHERE}),
            Window(40, 60, {"sync_latency": SYNC_TIMEOUT + 30}),
        ),
        http=False,
    ),
)

CELLS: Final = {cell.name: cell for cell in (*SINGLE, *COMBINED)}

#: The cell that runs over loopback HTTP: several faults at once, in real seconds.
HTTP_CELL: Final = Cell(
    "network+tasks", {**_NETWORK, "rate_limit": 50.0, "task_failure_rate": 0.15}
)

#: Every knob off, as the admin endpoint takes them.
OFF: Final = Faults().to_json()


# The workload ------------------------------------------------------------------------


@attrs.frozen
class Job:
    """
    One generation and how it is sent.
    """

    key: str
    route: Route
    model: str
    params: Mapping[str, Any]
    count: int = 1


_ORDER: Final = (
    models.SEEDREAM,
    models.WANX,
    models.GPT_IMAGE,
    models.FLUX,
    models.DALL_E,
    models.KOLORS,
    models.JIMENG,
    models.WAN_PLUS,
)


def make_jobs(count: int) -> list[Job]:
    """
    *count* jobs cycling through every model, by batch and directly, some asking for
    two images.
    """
    jobs: list[Job] = []
    for index in range(count):
        model = _ORDER[index % len(_ORDER)]
        route: Route = "batch" if (index // len(_ORDER)) % 2 == index % 2 else "direct"
        key = f"j{index:04d}-{route}-{model}"
        two = index % 3 == 0 and model != models.JIMENG
        params: dict[str, Any]
        if model in (models.WANX, models.WAN_PLUS):
            params = {"input": {"prompt": key}}
            if two:
                params["parameters"] = {"n": 2}
        else:
            params = {"prompt": key, **({"n": 2} if two else {})}
        jobs.append(Job(key, route, model, params, 2 if two else 1))
    return jobs


class Tagger(httpx.AsyncBaseTransport):
    """
    Stamps each generation request with its job's key (the prompt) in ``x-matrix-job``.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/images/generations"):
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                body = json.loads(await request.aread())
                prompt = body.get("prompt") or body.get("input", {}).get("prompt")
                if isinstance(prompt, str):
                    request.headers[TAG] = prompt
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


# Where the emulator runs ----------------------------------------------------------------


class Target(Protocol):
    """
    A gateway emulator the workload runs against: in process, or over loopback HTTP.
    """

    kind: str
    api_key: str
    api_origin: str

    def transport(self) -> httpx.AsyncBaseTransport: ...

    async def set_faults(self, knobs: Mapping[str, Any]) -> None: ...

    async def journal(self) -> list[dict[str, Any]]: ...

    async def charged(self) -> int: ...


class InProcess:
    """
    The emulator as an httpx transport, on the event loop's (virtual) clock.
    """

    kind = "in-process"

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
    ``python -m a1art_async.testing.gateway serve`` in another process, steered through
    its admin endpoints.
    """

    kind = "http"

    def __init__(self, banner: Mapping[str, str], admin: httpx.AsyncClient) -> None:
        self.api_key = banner["api_key"]
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


# Running a cell ----------------------------------------------------------------------


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
    synchronous: bool | None = None


@attrs.frozen
class Run:
    """
    One cell's run: what the SDK reported and what the emulator saw.
    """

    cell: Cell
    target: str
    jobs: tuple[Job, ...]
    results: tuple[Result, ...]
    estimates: Mapping[str, int]
    journal: tuple[dict[str, Any], ...]
    charged: int
    api_origin: str
    errors: tuple[str, ...]
    wall_time: float
    clock_time: float


def _classify(error: BaseException) -> State:
    if isinstance(error, gateway.GenerationOutcomeUnknown):
        return "unknown"
    if isinstance(error, gateway.A1ArtError):
        return "failed"
    return "unhandled"


async def _direct(client: gateway.AsyncClient, job: Job, folder: Path, out: list[Result]) -> None:
    generation: gateway.Generation | None = None
    try:
        generation = await client.images.submit(job.model, **job.params)
        result = await generation.result()
        paths = await client.download(result, folder)
    except Exception as error:
        task_id = None if generation is None else generation.task_id
        out.append(Result(job.key, _classify(error), error, task_id))
    else:
        files = tuple(str(path) for path in paths)
        out.append(Result(job.key, "done", None, result.task_id, files, result.synchronous))


async def _batch(
    client: gateway.AsyncClient, jobs: Sequence[Job], folder: Path, out: list[Result]
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
            batch.add(job.model, key=job.key, **job.params)
        async for outcome in batch:
            state = states.get(outcome.state, "unhandled")
            if outcome.error is not None and _classify(outcome.error) == "unhandled":
                state = "unhandled"
            synchronous = None
            if isinstance(outcome.task, gateway.Task):
                synchronous = outcome.task.synchronous
            out.append(
                Result(
                    outcome.key, state, outcome.error, outcome.task_id, outcome.files, synchronous
                )
            )


async def run_cell(
    target: Target,
    cell: Cell,
    *,
    jobs: int,
    folder: Path,
    poll_policy: a1.PollPolicy | None = None,
    window_scale: float = 1.0,
    sync_timeout: float = SYNC_TIMEOUT,
) -> Run:
    """
    Run the workload once against *target* with *cell*'s faults, and gather what happened.
    """
    workload = make_jobs(jobs)
    prices = Emulator.prices()
    before = len(await target.journal())
    charged_before = await target.charged()
    await target.set_faults(cell.knobs)
    client = gateway.AsyncClient(
        api_key=target.api_key,
        base_url=target.api_origin,
        transport=Tagger(target.transport()),
        timeout=10.0,
        sync_timeout=sync_timeout,
        credits=prices,
        retry=RETRY,
        poll_policy=poll_policy,
    )
    estimates = {job.key: client.estimate_cost(job.model).credits for job in workload}
    results: list[Result] = []
    still = threads_take_no_time() if target.kind == "in-process" else contextlib.nullcontext()
    wall, started = time.perf_counter(), anyio.current_time()
    with _collect_errors() as errors, still:
        async with client, anyio.create_task_group() as switches:
            switches.start_soon(_switch, target, cell, started, window_scale)
            async with anyio.create_task_group() as work:
                batched = [job for job in workload if job.route == "batch"]
                work.start_soon(_batch, client, batched, folder, results)
                for job in workload:
                    if job.route == "direct":
                        work.start_soon(_direct, client, job, folder / "direct", results)
            switches.cancel_scope.cancel()
    wall, clock = time.perf_counter() - wall, anyio.current_time() - started
    await target.set_faults(OFF)
    journal = (await target.journal())[before:]
    return Run(
        cell=cell,
        target=target.kind,
        jobs=tuple(workload),
        results=tuple(results),
        estimates=estimates,
        journal=tuple(journal),
        charged=await target.charged() - charged_before,
        api_origin=target.api_origin,
        errors=tuple(errors.messages),
        wall_time=wall,
        clock_time=clock,
    )


# Checking a run ------------------------------------------------------------------------


@attrs.frozen
class Figures:
    """
    One cell's figures, and every way in which it broke the rules.

    Attributes:
        generations_per_job: The most generation requests any job sent that the
            gateway may have acted on; 1 is the rule.
        requests_per_job: Generation requests per job that sent any, counting resends
            after requests that provably did nothing.
        credits_estimated: What the SDK estimated for the jobs that were charged.
        earliest_poll: The smallest gap between a task's creation and its first poll.
        seen: Journal outcomes, envelope codes and the errors jobs ended with.
        violations: Every broken rule, in words; empty when the cell passed.
    """

    cell: str
    target: str
    jobs: int
    done: int
    failed: int
    unknown: int
    generations_per_job: int
    requests_per_job: float
    tasks: int
    credits_charged: int
    credits_estimated: int
    earliest_poll: float | None
    polls: int
    wall_time: float
    clock_time: float
    seen: tuple[str, ...]
    violations: tuple[str, ...]


def _unacted(entry: Mapping[str, Any]) -> bool:
    """
    Whether a generation request provably did nothing: it never arrived, or the gateway
    refused it for the rate (HTTP 429, even when a fault cut the refusal's body, which
    the journal then calls ``malformed``).
    """
    return entry["outcome"] in UNACTED or entry["status"] == 429


def figures(run: Run) -> Figures:
    """
    Count a run's figures and check every rule against them.
    """
    problems: list[str] = [f"logged: {message}" for message in run.errors]
    keys = [result.key for result in run.results]
    expected = {job.key for job in run.jobs}
    if repeated := sorted(key for key, n in Counter(keys).items() if n > 1):
        problems.append(f"jobs ended more than once: {repeated}")
    if missing := sorted(expected - set(keys)):
        problems.append(f"jobs never ended: {missing}")
    for result in run.results:
        if result.state == "unhandled":
            problems.append(f"{result.key}: not an SDK error: {result.error!r}")

    for entry in run.journal:
        if entry["key"] is not None and entry["origin"] != run.api_origin:
            problems.append(f"the API key reached {entry['origin']}{entry['path']}")

    sends: dict[str, list[dict[str, Any]]] = defaultdict(list)
    created: dict[str, tuple[str | None, float, str]] = {}
    polls: dict[str, list[float]] = defaultdict(list)
    for entry in run.journal:
        job = entry["headers"].get(TAG)
        if entry["endpoint"] == "generations":
            if job is not None:
                sends[job].append(entry)
            if entry["task_id"] is not None and entry["outcome"] in ACTED:
                created[entry["task_id"]] = (job, entry["time"], entry["outcome"])
        elif entry["endpoint"] == "tasks" and entry["task_id"] is not None:
            polls[entry["task_id"]].append(entry["time"])
    if untagged := sorted(task for task, (job, _, _) in created.items() if job is None):
        problems.append(f"generations of no job: {untagged}")

    made: dict[str, list[str]] = defaultdict(list)
    for task_id, (job, _, _) in created.items():
        if job is not None:
            made[job].append(task_id)
    acting_max = 0
    for job, entries in sends.items():
        for entry in entries[:-1]:
            if not _unacted(entry):
                problems.append(f"{job}: resent after {entry['outcome']} ({entry['code']})")
        acting = sum(1 for entry in entries if not _unacted(entry))
        acting_max = max(acting_max, acting)
        if len(made[job]) > 1:
            problems.append(f"{job}: charged {len(made[job])} times")

    estimated = 0
    jobs = {job.key: job for job in run.jobs}
    for result in run.results:
        charged_for = made.get(result.key, [])
        if charged_for:
            estimated += run.estimates[result.key]
        if result.state == "done":
            if len(charged_for) != 1:
                problems.append(f"{result.key}: done, but charged for {charged_for}")
            elif result.synchronous is False and charged_for != [result.task_id]:
                problems.append(f"{result.key}: done as {result.task_id}, journal {charged_for}")
            if len(result.files) != jobs[result.key].count:
                problems.append(f"{result.key}: {len(result.files)} files")
            broken = [path for path in result.files if not intact(path)]
            if broken:
                problems.append(f"{result.key}: saved files are not what was served: {broken}")
    if estimated != run.charged:
        problems.append(f"charged {run.charged} credits, estimated {estimated}")

    gaps = [min(polls[task]) - when for task, (_, when, _) in created.items() if polls.get(task)]
    if early := [gap for gap in gaps if gap < FIRST_POLL - _SLACK]:
        problems.append(f"{len(early)} tasks polled {min(early):.3f} s after creation")

    seen = {entry["outcome"] for entry in run.journal}
    seen |= {f"code {entry['code']}" for entry in run.journal if entry["code"]}
    seen |= {type(result.error).__name__ for result in run.results if result.error}
    counted = Counter(result.state for result in run.results)
    senders = len(sends)
    return Figures(
        cell=run.cell.name,
        target=run.target,
        jobs=len(run.jobs),
        done=counted["done"],
        failed=counted["failed"],
        unknown=counted["unknown"],
        generations_per_job=acting_max,
        requests_per_job=(sum(map(len, sends.values())) / senders) if senders else 0.0,
        tasks=len(created),
        credits_charged=run.charged,
        credits_estimated=estimated,
        earliest_poll=min(gaps) if gaps else None,
        polls=sum(map(len, polls.values())),
        wall_time=run.wall_time,
        clock_time=run.clock_time,
        seen=tuple(sorted(seen)),
        violations=tuple(problems),
    )
