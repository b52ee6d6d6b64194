"""
Properties that hold for every input hypothesis can think of: the converter round-trips
every model, the client's response handling raises nothing but the SDK's own errors for
arbitrary bytes, and the polling scheduler delivers each task exactly once whatever the
durations, failures and cancellations.  (Backoff bounds: ``tests/test_retry.py``.)

Async bodies run under ``anyio.run`` on virtual time inside synchronous ``@given`` tests;
example counts stay modest for CI.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from collections import Counter
from typing import Any

import anyio
import attrs
import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trio.testing import MockClock

import a1art_async as a1
from a1art_async._converter import format_date, structure, structure_task, unstructure
from a1art_async._engine._scheduler import Scheduler, as_completed
from a1art_async.testing import VirtualTimeEventLoop, png_bytes

from .conftest import scripted_poller

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _run_virtual(backend: str, func: Any, *args: Any) -> Any:
    if backend == "trio":
        options: dict[str, Any] = {"clock": MockClock(autojump_threshold=0)}
    else:
        options = {"loop_factory": VirtualTimeEventLoop}
    return anyio.run(func, *args, backend=backend, backend_options=options)


# The converter ---------------------------------------------------------------------------

text = st.text(max_size=12)
ids = st.one_of(st.text(min_size=1, max_size=20), st.integers(0, 10**19).map(str))
# The API writes dates to a tenth of a second.
dates = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1)).map(
    lambda d: d.replace(microsecond=d.microsecond // 100_000 * 100_000)
)
inputs = st.builds(a1.Input, id=ids, title=text, tags=st.lists(text, max_size=3).map(tuple))
forms = st.builds(
    a1.Form,
    id=ids,
    type=st.sampled_from(list(a1.FormType)),
    title=text,
    inputs=st.lists(inputs, max_size=2).map(tuple),
    position=st.none() | st.sampled_from(["0", "1", "2"]),
)
styles = st.builds(a1.Style, id=ids, name=text, image=text)
apps_ = st.builds(
    a1.App,
    id=ids,
    version_id=ids,
    name=text,
    forms=st.lists(forms, max_size=3).map(tuple),
    styles=st.lists(styles, max_size=3).map(tuple),
    update_date=st.none() | dates,
    create_date=st.none() | dates,
    process_time=st.none() | st.floats(0, 1e6, allow_nan=False),
    cost=st.none() | st.integers(0, 1000),
)
uploads = st.builds(a1.Upload, image_url=ids, path=ids)
tasks = st.builds(
    a1.Task,
    task_id=ids,
    state=st.sampled_from(list(a1.TaskState)),
    id=ids,
    images=st.lists(text, max_size=4).map(tuple),
    start_date=st.none() | dates,
    finish_date=st.none() | dates,
    create_date=st.none() | dates,
)

#: The documented wire names, written out here rather than derived from the converter.
WIRE_NAMES: dict[type, dict[str, str]] = {
    a1.App: {
        "id": "id",
        "version_id": "versionId",
        "name": "name",
        "forms": "formArr",
        "styles": "styleArr",
        "update_date": "updateDate",
        "create_date": "createDate",
        "process_time": "processTime",
        "cost": "cost",
    },
    a1.Form: {n: n for n in ("id", "type", "title", "inputs", "position")},
    a1.Input: {n: n for n in ("id", "title", "tags")},
    a1.Style: {n: n for n in ("id", "name", "image")},
    a1.Upload: {"image_url": "imageUrl", "path": "path"},
    a1.Task: {
        "id": "id",
        "state": "state",
        "images": "images",
        "start_date": "startDate",
        "finish_date": "finishDate",
        "create_date": "createDate",
    },
}


def wire(value: Any) -> Any:
    """
    Write a model the way the API does: camelCase, dates as ``2024-06-20 19:51:55.0``,
    ``processTime`` as a string, ``null`` for what is absent.
    """
    if attrs.has(type(value)):
        names = WIRE_NAMES[type(value)]
        out = {names[f]: wire(getattr(value, f)) for f in names}
        if isinstance(value, a1.App) and value.process_time is not None:
            out["processTime"] = repr(value.process_time)
        return out
    if isinstance(value, dt.datetime):
        return format_date(value)
    if isinstance(value, a1.TaskState):
        return int(value)
    if isinstance(value, a1.FormType):
        return value.value
    if isinstance(value, tuple):
        return [wire(v) for v in value]
    return value


@FAST
@given(model=st.one_of(apps_, forms, inputs, styles, uploads))
def test_every_response_model_round_trips(model: Any) -> None:
    """
    A model written as the API writes it, through JSON, reads back equal.
    """
    body = json.loads(json.dumps(wire(model)))
    assert model == structure(body, type(model))


@FAST
@given(task=tasks)
def test_tasks_round_trip_with_the_id_they_were_queried_by(task: a1.Task) -> None:
    """
    A task body reads back equal, its task_id taken from the query.
    """
    body = json.loads(json.dumps(wire(task)))
    assert task == structure_task(body, task.task_id)


nonblank = st.text(min_size=1, max_size=12).filter(str.strip)
cnets = st.builds(
    a1.CnetPart,
    id=nonblank,
    image_url=nonblank,
    path=nonblank,
    position=st.none() | st.sampled_from(["0", "1"]),
)
descriptions = st.builds(a1.DescriptionPart, id=nonblank, value=nonblank)
enhances = st.builds(a1.EnhanceRequest, path=nonblank, image_url=nonblank)
generates = st.builds(
    a1.GenerateRequest,
    app_id=nonblank,
    version_id=nonblank,
    generate_num=st.integers(1, 4),
    cnet=st.lists(cnets, max_size=2),
    description=st.lists(descriptions, max_size=2),
    style_id=st.none() | nonblank,
    size=st.none() | st.sampled_from(list(a1.Size)),
)


def read_generate(body: dict[str, Any]) -> a1.GenerateRequest:
    """
    Read a generate body by the docs' field table.
    """
    return a1.GenerateRequest(
        app_id=body["appId"],
        version_id=body["versionId"],
        generate_num=int(body["generateNum"]),
        cnet=[
            a1.CnetPart(c["id"], c["imageUrl"], c["path"], c.get("position"))
            for c in body.get("cnet", [])
        ],
        description=[a1.DescriptionPart(d["id"], d["value"]) for d in body.get("description", [])],
        style_id=body.get("styleId"),
        size=a1.Size(body["size"]["sizeId"]) if "size" in body else None,
    )


@FAST
@given(request=generates)
def test_generate_requests_round_trip_through_the_documented_body(
    request: a1.GenerateRequest,
) -> None:
    """
    A generate request written by the converter reads back equal by the docs' table,
    with generateNum as a string and nothing absent sent as null.
    """
    body = json.loads(json.dumps(unstructure(request)))
    assert isinstance(body["generateNum"], str)
    assert None not in body.values()
    assert request == read_generate(body)


@FAST
@given(request=enhances)
def test_enhance_requests_round_trip(request: a1.EnhanceRequest) -> None:
    """
    An enhance request is exactly ``{path, imageUrl}`` on the wire.
    """
    body = json.loads(json.dumps(unstructure(request)))
    assert {"path": request.path, "imageUrl": request.image_url} == body


# The envelope parser ----------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
keys = ["appInfo", "taskId", "imageUrl", "path", "state", "images", "id", "versionId"]
shaped = st.fixed_dictionaries(
    {"code": st.sampled_from([0, 0, 0, 20000, 20002, 10001, 324013]) | json_values},
    optional={
        "msg": json_values,
        "msg_cn": json_values,
        "data": json_values
        | st.dictionaries(
            st.sampled_from(keys),
            json_values
            | st.dictionaries(
                st.sampled_from([*keys, "formArr", "processTime", "cost", "startDate"]),
                json_values,
            ),
        ),
    },
).map(lambda envelope: json.dumps(envelope).encode())
bodies = st.binary(max_size=200) | shaped
statuses = st.sampled_from([200, 200, 200, 201, 204, 301, 307, 400, 404, 429, 500, 502, 503])
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20)
ENDPOINTS = ["apps", "upload", "generate", "enhance", "tasks"]


async def _answer_once(
    endpoint: str, status: int, body: bytes, headers: dict[str, str], retries: int
) -> BaseException | None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=headers, content=body)

    request = a1.GenerateRequest(app_id="1", version_id="2")
    upload = a1.Upload("a.png", "p/", width=8, height=8)
    async with a1.AsyncClient(
        api_key="fuzz-key", transport=httpx.MockTransport(handler), max_retries=retries
    ) as client:
        calls = {
            "apps": lambda: client.apps.get("1"),
            "upload": lambda: client.images.upload(png_bytes()),
            "generate": lambda: client.images.generate(request),
            "enhance": lambda: client.images.enhance(upload),
            "tasks": lambda: client.tasks.get("t"),
        }
        try:
            await calls[endpoint]()
        except a1.A1ArtError:
            return None
        except BaseException as error:  # the property: nothing else escapes
            return error
    return None


@settings(max_examples=200, deadline=None)
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    status=statuses,
    body=bodies,
    retry_after=st.none() | header_text | st.sampled_from(["nan", "inf", "-1", "1e400", "0"]),
    content_type=st.sampled_from(["application/json", "text/html", "", "application/xml"]),
    retries=st.integers(0, 2),
    backend=st.sampled_from(["asyncio", "trio"]),
)
def test_the_response_handling_raises_only_sdk_errors(
    endpoint: str,
    status: int,
    body: bytes,
    retry_after: str | None,
    content_type: str,
    retries: int,
    backend: str,
) -> None:
    """
    Whatever bytes, status and headers come back, a call returns or raises an
    A1ArtError; nothing else escapes.
    """
    headers = {"content-type": content_type} if content_type else {}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    escaped = _run_virtual(backend, _answer_once, endpoint, status, body, headers, retries)
    assert escaped is None, repr(escaped)


# The scheduler ---------------------------------------------------------------------------


@attrs.frozen
class Plan:
    """
    One task's fate, and how its waiters behave.
    """

    duration: float
    ending: str  # "done", "failed", "error" (a permanent poll error)
    transient: int  # transient poll errors before the real answers
    waiters: tuple[tuple[float | None, float | None], ...]  # (cancel after, timeout)


plans = st.builds(
    Plan,
    duration=st.floats(0.1, 200),
    ending=st.sampled_from(["done", "done", "failed", "error"]),
    transient=st.integers(0, 3),
    waiters=st.lists(
        st.tuples(st.none() | st.floats(0, 100), st.none() | st.floats(1, 300)),
        min_size=0,
        max_size=3,
    ).map(tuple),
)


async def _schedule(
    plans: list[Plan], policy: a1.PollPolicy, seed: int
) -> tuple[Counter[str], list[tuple[str, str]], int]:
    """
    Run every plan at once: one ``as_completed`` over all tasks plus each plan's single
    waiters.  Returns what the stream yielded, what each single waiter got, and how many
    tasks still had waiters at the end.
    """
    start = anyio.current_time()
    errors = {f"t{n}": plan.transient for n, plan in enumerate(plans)}

    async def fetch(task_id: str, region: str) -> a1.Task:
        await anyio.sleep(0.01)
        plan = plans[int(task_id[1:])]
        if errors[task_id]:
            errors[task_id] -= 1
            raise a1.ServerError(20002, "server error")
        if anyio.current_time() - start < plan.duration:
            return a1.Task(task_id, a1.TaskState.RUNNING)
        if plan.ending == "error":
            raise a1.InvalidParamsError(10001, "invalid params")
        state = a1.TaskState.FAILED if plan.ending == "failed" else a1.TaskState.COMPLETED
        return a1.Task(task_id, state)

    streamed: Counter[str] = Counter()
    singles: list[tuple[str, str]] = []
    client = a1.AsyncClient(api_key="k", transport=httpx.MockTransport(_no_requests))
    scheduler = Scheduler(scripted_poller(fetch), policy, rng=random.Random(seed))

    async def single(task_id: str, cancel: float | None, limit: float | None) -> None:
        with anyio.move_on_after(math.inf if cancel is None else cancel):
            try:
                await scheduler.wait(client.tasks.track(task_id), timeout=limit)
                singles.append((task_id, "done"))
            except a1.A1ArtError as error:
                singles.append((task_id, type(error).__name__))

    async with anyio.create_task_group() as tg:
        await tg.start(scheduler.run)
        handles = [client.tasks.track(f"t{n}") for n in range(len(plans))]
        async with anyio.create_task_group() as waiters:
            for n, plan in enumerate(plans):
                for cancel, timeout in plan.waiters:
                    waiters.start_soon(single, f"t{n}", cancel, timeout)
            async with as_completed(scheduler, handles) as outcomes:
                async for outcome in outcomes:
                    streamed[outcome.task_id] += 1
                    if outcome.ok:
                        assert plans[int(outcome.task_id[1:])].ending == "done"
        remaining = scheduler.waiting
        scheduler.stop()
    return streamed, singles, remaining


def _no_requests(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"unexpected request {request.url}")


@settings(max_examples=40, deadline=None)
@given(
    plans=st.lists(plans, min_size=1, max_size=12),
    jitter=st.floats(0, 0.9),
    coalesce=st.sampled_from([0.0, 0.1, 1.0]),
    max_concurrent=st.integers(1, 4),
    seed=st.integers(0, 2**32),
    backend=st.sampled_from(["asyncio", "trio"]),
)
def test_the_scheduler_delivers_each_task_exactly_once(
    plans: list[Plan],
    jitter: float,
    coalesce: float,
    max_concurrent: int,
    seed: int,
    backend: str,
) -> None:
    """
    With random durations, failures, transient and permanent poll errors, timeouts and
    cancelled waiters, the stream yields every task exactly once, each uncancelled
    waiter gets exactly one outcome that fits the task's fate, and nobody is left
    subscribed.
    """
    policy = a1.PollPolicy(jitter=jitter, coalesce=coalesce, max_concurrent=max_concurrent)
    streamed, singles, remaining = _run_virtual(backend, _schedule, plans, policy, seed)
    assert {f"t{n}": 1 for n in range(len(plans))} == dict(streamed)
    fits = {
        "done": {"done", "TaskTimeoutError"},
        "failed": {"TaskFailedError", "TaskTimeoutError"},
        "error": {"InvalidParamsError", "TaskTimeoutError"},
    }
    per_task = Counter(task_id for task_id, _ in singles)
    for n, plan in enumerate(plans):
        task_id = f"t{n}"
        never_cancelled = sum(1 for cancel, _ in plan.waiters if cancel is None)
        assert never_cancelled <= per_task[task_id] <= len(plan.waiters)
    assert all(got in fits[plans[int(task_id[1:])].ending] for task_id, got in singles)
    assert 0 == remaining
