"""
The akool fault matrix: one mixed workload run against the akool emulator with each
fault knob alone and several together, and the figures that say whether the SDK held up.

The workload spends credits every way the provider can: a journaled batch of creates
and presses (each press after its create, results downloaded), direct creates waited
for and downloaded, and direct create-then-press chains; all on one client.  Cells with
webhooks configure the client's ``webhook_url`` and have the emulator send webhooks to
the client's ASGI endpoint, through the webhook knobs.

Each paid request is tagged with its logical request (``<job>/create`` or
``<job>/press``) by :class:`Tagger`, which reads the prompt (unique per job) or the
pressed image's id and button from the body; the emulator's journal then says how many
requests each logical request sent and what became of them.  The rules
(:func:`figures`): every job ends exactly once (done, a typed failure, or
outcome-unknown); no paid request is sent again unless the attempt before provably did
nothing (never arrived, or refused for the rate); the credits charged equal 2 per image
made, within the estimates; the key reaches the API origin only; saved files are whole
PNGs; nothing is logged as an error.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

import anyio
import attrs
import httpx

from a1art_async import A1ArtError, JobState, OutcomeUnknown, RetryPolicy, akool
from a1art_async.akool._cli import batch_job
from a1art_async.testing.akool import Emulator

from ._matrix import _collect_errors, intact, threads_take_no_time

TAG: Final = "x-matrix-request"
RETRY: Final = RetryPolicy(max_retries=6, initial=0.2, cap=2.0)
TIMEOUT: Final = 10.0
HOOK: Final = "https://hooks.example/akool"
UNACTED: Final = frozenset({"dropped_before", "rate_limited"})

Route = Literal["batch", "create", "chain"]
State = Literal["done", "failed", "unknown", "unhandled"]


@attrs.frozen
class Cell:
    """
    One row: knobs on from the start; ``webhooks`` has the emulator send them.
    """

    name: str
    knobs: Mapping[str, Any] = attrs.field(factory=dict)
    webhooks: bool = False
    shows: str | None = None


_PAID: Final = ["createbyprompt", "createbybutton"]
CELLS: Final = {
    cell.name: cell
    for cell in (
        Cell("baseline"),
        Cell("rate_limit_429", {"rate_limit": 4.0}, shows="rate_limited"),
        Cell("server_error_1108", {"server_error_rate": 0.2}, shows="code 1108"),
        Cell("http_502_html", {"http_5xx_rate": 0.2}, shows="http_5xx"),
        Cell("malformed_json", {"malformed_json_rate": 0.2}, shows="malformed"),
        Cell("drop_before_send", {"drop_before_rate": 0.2}, shows="dropped_before"),
        Cell("drop_after_send", {"drop_after_rate": 0.2}, shows="dropped_after"),
        Cell(
            "slow_past_timeout",
            {"latency": TIMEOUT + 2, "endpoints": _PAID},
            shows="ImageOutcomeUnknown",
        ),
        Cell("image_failure", {"task_failure_rate": 0.3}, shows="ImageFailedError"),
        Cell("image_stuck", {"task_stuck_rate": 0.3}, shows="TaskTimeoutError"),
        Cell("webhooks", webhooks=True, shows="webhook real"),
        Cell(
            "webhooks_dropped", {"webhook_drop_rate": 0.5}, webhooks=True, shows="webhook dropped"
        ),
        Cell(
            "webhooks_duplicated",
            {"webhook_duplicate_rate": 1.0, "webhook_jitter": 3.0},
            webhooks=True,
            shows="webhook duplicate",
        ),
        Cell("webhooks_forged", {"webhook_forge_rate": 0.5}, webhooks=True, shows="webhook forged"),
        Cell(
            "network",
            {
                "rate_limit": 8.0,
                "server_error_rate": 0.05,
                "http_5xx_rate": 0.05,
                "malformed_json_rate": 0.05,
                "drop_before_rate": 0.05,
                "drop_after_rate": 0.05,
                "task_failure_rate": 0.1,
                "webhook_drop_rate": 0.3,
                "webhook_duplicate_rate": 0.3,
                "webhook_forge_rate": 0.3,
            },
            webhooks=True,
        ),
    )
}


@attrs.frozen
class Job:
    key: str
    route: Route
    prompt: str


def make_jobs(count: int) -> list[Job]:
    """
    *count* jobs cycling through the batch, direct creates and create-then-press chains.
    """
    routes: tuple[Route, ...] = ("batch", "create", "chain")
    return [
        Job(f"j{n:03d}-{routes[n % 3]}", routes[n % 3], f"matrix prompt {n}") for n in range(count)
    ]


class Tagger(httpx.AsyncBaseTransport):
    """
    Stamps every create and press with its logical request, learning which job each
    image belongs to from the answers.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, jobs: list[Job]) -> None:
        self._inner = inner
        self._by_prompt = {job.prompt: job.key for job in jobs}
        self._by_image: dict[str, str] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        tag: str | None = None
        if path.endswith(("/createbyprompt", "/createbybutton")):
            with contextlib.suppress(ValueError, KeyError, TypeError):
                body = json.loads(await request.aread())
                if path.endswith("/createbyprompt"):
                    tag = f"{self._by_prompt[body['prompt']]}/create"
                else:
                    tag = f"{self._by_image[body['_id']]}/press/{body['button']}"
        if tag is not None:
            request.headers[TAG] = tag
        response = await self._inner.handle_async_request(request)
        if tag is not None and tag.endswith("/create"):
            with contextlib.suppress(ValueError, KeyError, TypeError, httpx.ResponseNotRead):
                self._by_image[json.loads(response.content)["data"]["_id"]] = tag[: -len("/create")]
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@attrs.frozen
class Result:
    key: str
    state: State
    error: BaseException | None = None
    files: tuple[str, ...] = ()


def _classify(error: BaseException) -> State:
    if isinstance(error, OutcomeUnknown):
        return "unknown"
    if isinstance(error, A1ArtError):
        return "failed"
    return "unhandled"


async def _direct(client: akool.AsyncClient, job: Job, folder: Path, out: list[Result]) -> None:
    try:
        image = await (await client.images.create(job.prompt)).result(timeout=300)
        files = [await client.images.download(image, folder)]
        if job.route == "chain":
            pressed = await (await client.images.press(image, "U1")).result(timeout=300)
            files.append(await client.images.download(pressed, folder))
    except Exception as error:
        out.append(Result(job.key, _classify(error), error))
    else:
        out.append(Result(job.key, "done", None, tuple(map(str, files))))


async def _batch(
    client: akool.AsyncClient, jobs: list[Job], folder: Path, out: list[Result]
) -> None:
    states: dict[JobState, State] = {
        JobState.DONE: "done",
        JobState.FAILED: "failed",
        JobState.UNKNOWN: "unknown",
    }
    async with client.batch(
        concurrency=2, journal=folder / "journal.sqlite", download_to=folder / "batch"
    ) as batch:
        for job in jobs:  # each press queued before the create it follows
            batch.add_job(batch_job(client, {"press": job.key, "button": "V2"}, folder))
            batch.add_job(batch_job(client, {"key": job.key, "prompt": job.prompt}, folder))
        async for outcome in batch:
            state = states.get(outcome.state, "unhandled")
            if outcome.error is not None and _classify(outcome.error) == "unhandled":
                state = "unhandled"
            out.append(Result(outcome.key, state, outcome.error, outcome.files))


@attrs.frozen
class Run:
    cell: Cell
    jobs: tuple[Job, ...]
    results: tuple[Result, ...]
    journal: tuple[Any, ...]
    deliveries: tuple[Any, ...]
    charged: int
    api_origin: str
    errors: tuple[str, ...]
    refused_webhooks: int


async def run_cell(emulator: Emulator, cell: Cell, *, jobs: int, folder: Path) -> Run:
    """
    Run the workload once against *emulator* with *cell*'s faults.
    """
    workload = make_jobs(jobs)
    emulator.faults.update(cell.knobs)
    client = akool.AsyncClient(
        api_key=emulator.api_key,
        client_id=emulator.client_id,
        transport=Tagger(emulator.transport(), workload),
        timeout=TIMEOUT,
        retry=RETRY,
        webhook_url=HOOK if cell.webhooks else None,
    )
    results: list[Result] = []
    with _collect_errors() as errors, threads_take_no_time():
        async with client, contextlib.AsyncExitStack() as stack:
            if cell.webhooks:
                transport = httpx.ASGITransport(client.webhooks.asgi())
                await stack.enter_async_context(emulator.sending_webhooks(transport=transport))
            async with anyio.create_task_group() as work:
                batched = [job for job in workload if job.route == "batch"]
                work.start_soon(_batch, client, batched, folder, results)
                for job in workload:
                    if job.route != "batch":
                        work.start_soon(_direct, client, job, folder / "direct", results)
    return Run(
        cell=cell,
        jobs=tuple(workload),
        results=tuple(results),
        journal=tuple(emulator.journal),
        deliveries=tuple(emulator.deliveries),
        charged=emulator.charged(),
        api_origin=emulator.api_origin,
        errors=tuple(errors.messages),
        refused_webhooks=client.webhooks.refused,
    )


@attrs.frozen
class Figures:
    cell: str
    jobs: int
    done: int
    failed: int
    unknown: int
    paid_requests_per_request: int
    images: int
    credits_charged: int
    credits_estimated: int
    seen: tuple[str, ...]
    violations: tuple[str, ...]


def expected_keys(jobs: tuple[Job, ...]) -> set[str]:
    """
    The keys that must each end once: every job, and the press of each batch job.
    """
    keys = {job.key for job in jobs}
    return keys | {f"{job.key}-V2" for job in jobs if job.route == "batch"}


def figures(run: Run) -> Figures:
    """
    Count a run's figures and check every rule against them.
    """
    problems = [f"logged: {message}" for message in run.errors]
    keys = [result.key for result in run.results]
    if repeated := sorted(key for key, n in Counter(keys).items() if n > 1):
        problems.append(f"ended more than once: {repeated}")
    if missing := sorted(expected_keys(run.jobs) - set(keys)):
        problems.append(f"never ended: {missing}")
    for result in run.results:
        if result.state == "unhandled":
            problems.append(f"{result.key}: not an SDK error: {result.error!r}")
        if result.state == "done" and not all(intact(path) for path in result.files):
            problems.append(f"{result.key}: saved files are not whole PNGs")
    for entry in run.journal:
        if entry.key is not None and entry.origin != run.api_origin:
            problems.append(f"the key reached {entry.origin}{entry.path}")
    paid: dict[str, list[Any]] = defaultdict(list)
    for entry in run.journal:
        if entry.endpoint in ("createbyprompt", "createbybutton"):
            tag = entry.headers.get(TAG)
            if tag is None:
                problems.append(f"an untagged paid request: {entry.path}")
                continue
            paid[tag].append(entry)
    acting_max = 0
    for tag, entries in paid.items():
        for entry in entries[:-1]:
            if entry.outcome not in UNACTED:
                problems.append(f"{tag}: resent after {entry.outcome} ({entry.code})")
        acting = sum(1 for entry in entries if entry.outcome not in UNACTED)
        acting_max = max(acting_max, acting)
    # An image was made wherever the handler ran to the end: its id is journaled, also
    # when the answer was then dropped, cut or late.
    made = sum(1 for entries in paid.values() for e in entries if e.task_id is not None)
    estimated = 2 * made
    if run.charged != estimated:
        problems.append(f"charged {run.charged} credits, estimated {estimated} for {made} images")
    forged = sum(1 for d in run.deliveries if d.kind == "forged")
    if forged and run.refused_webhooks < forged:
        problems.append(f"{forged} forged webhooks, {run.refused_webhooks} refused")
    seen = {entry.outcome for entry in run.journal}
    seen |= {f"code {entry.code}" for entry in run.journal if entry.code}
    seen |= {type(result.error).__name__ for result in run.results if result.error}
    seen |= {f"webhook {d.kind}" for d in run.deliveries if d.outcome == "sent"}
    seen |= {f"webhook {d.outcome}" for d in run.deliveries}
    counted = Counter(result.state for result in run.results)
    return Figures(
        cell=run.cell.name,
        jobs=len(expected_keys(run.jobs)),
        done=counted["done"],
        failed=counted["failed"],
        unknown=counted["unknown"],
        paid_requests_per_request=acting_max,
        images=made,
        credits_charged=run.charged,
        credits_estimated=estimated,
        seen=tuple(sorted(seen)),
        violations=tuple(problems),
    )
