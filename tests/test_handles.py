"""
Task handles, waiting and ``as_completed`` through ``AsyncClient`` and the in-process
emulator, in virtual time on asyncio and trio.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import Counter
from typing import Any

import anyio
import pytest

import a1art_async as a1
from a1art_async._engine._schedule import polls_until
from a1art_async.testing import Emulator, Faults, apps, png_bytes

pytestmark = pytest.mark.anyio

KEY = "handles-key"
# The rules alone (no learned schedule), so that poll counts follow `polls_until`.
EXACT = a1.PollPolicy(jitter=0.0, coalesce=0.0, learn_after=None)


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


def _emulator(**faults: Any) -> Emulator:
    return Emulator(api_key=KEY, balance=100_000, seed=5, faults=Faults(**faults))


def _client(emu: Emulator, policy: a1.PollPolicy = EXACT, **kwargs: Any) -> a1.AsyncClient:
    return a1.AsyncClient(api_key=KEY, transport=emu.transport(), poll_policy=policy, **kwargs)


async def _request(client: a1.AsyncClient) -> tuple[a1.GenerateRequest, a1.App]:
    app = await client.apps.get(apps.FORM)
    upload = await client.images.upload(png_bytes())
    description = app.forms_of(a1.FormType.DESCRIPTION)[0]
    request = a1.GenerateRequest(
        app_id=app.id,
        version_id=app.version_id,
        cnet=[a1.CnetPart.from_upload(app.forms_of(a1.FormType.CNET)[0].id, upload)],
        description=[a1.DescriptionPart(description.inputs[0].id, "black devon rex cat")],
        style_id=app.styles[0].id,
        size="1:1",
    )
    return request, app


def _polls(emu: Emulator, task_id: str) -> list[float]:
    return [e.time for e in emu.journal if e.endpoint == "tasks" and e.task_id == task_id]


def _created(emu: Emulator, task_id: str) -> float:
    submits = ("generate", "optimize")
    return next(e.time for e in emu.journal if e.endpoint in submits and e.task_id == task_id)


async def test_submit_returns_a_handle_and_result_is_the_finished_task() -> None:
    """
    A submitted generation's handle waits for the finished task, and its state and task
    follow the polls.
    """
    emu = _emulator()
    async with _client(emu) as client:
        request, app = await _request(client)
        handle = await client.images.submit(request, app=app)
        before = handle.state
        task = await handle.result()
    assert a1.TaskState.SUBMITTED is before
    assert a1.TaskState.COMPLETED is task.state
    assert handle.task_id == task.task_id
    assert a1.TaskState.COMPLETED is handle.state
    assert task is handle.task
    assert 1 == len(task.images)
    assert ("generate", "global", apps.FORM, 22.0) == (
        handle.kind,
        handle.region,
        handle.app_id,
        handle.process_time,
    )
    lag = anyio.current_time() - emu.complete_at(task.task_id)
    assert 0 <= lag <= EXACT.interval


async def test_first_poll_follows_the_app_process_time() -> None:
    """
    With the app's processTime, the first poll comes at the policy's fraction of it after
    the task was created, and never before 5 s.
    """
    emu = _emulator()
    async with _client(emu) as client:
        request, app = await _request(client)
        hinted = await client.images.submit(request, app=app)
        bare = await client.images.submit(request)
        async with client.tasks.as_completed([hinted, bare]) as results:
            assert 2 == len([outcome async for outcome in results])
    first_hinted = _polls(emu, hinted.task_id)[0] - _created(emu, hinted.task_id)
    first_bare = _polls(emu, bare.task_id)[0] - _created(emu, bare.task_id)
    assert EXACT.hint_fraction * 22 == pytest.approx(first_hinted)
    assert 5.0 == pytest.approx(first_bare)


async def test_polls_through_the_client_are_the_predicted_number() -> None:
    """
    Each task of a batch is polled exactly as often as the unjittered policy predicts for
    its duration on the emulator.
    """
    emu = _emulator()
    async with _client(emu) as client:
        request, app = await _request(client)
        handles = [await client.images.submit(request, app=app) for _ in range(200)]
        async with client.tasks.as_completed(handles) as results:
            outcomes = [outcome async for outcome in results]
    assert 200 == len(outcomes)
    for handle in handles:
        duration = emu.complete_at(handle.task_id) - _created(emu, handle.task_id)
        assert polls_until(EXACT, duration, 22.0) == len(_polls(emu, handle.task_id))


async def test_enhance_handle_waits_like_a_generation() -> None:
    """
    An enhance submitted for a handle completes through the same scheduler.
    """
    emu = _emulator()
    async with _client(emu) as client:
        handle = await client.images.submit_enhance(png_bytes())
        task = await handle.result()
    assert "enhance" == handle.kind
    assert a1.TaskState.COMPLETED is task.state
    assert 5.0 == pytest.approx(_polls(emu, handle.task_id)[0] - _created(emu, handle.task_id))


async def test_submit_refuses_another_apps_details() -> None:
    """
    Passing the details of an app other than the request's is refused before sending.
    """
    emu = _emulator()
    async with _client(emu) as client:
        request, _ = await _request(client)
        other = await client.apps.get(apps.TEXT)
        with pytest.raises(a1.ValidationError, match="app"):
            await client.images.submit(request, app=other)
    assert 0 == sum(1 for e in emu.journal if e.endpoint == "generate")


async def test_failed_task_raises_task_failed_error() -> None:
    """
    A task that ends in state 20 raises TaskFailedError, and the handle says FAILED.
    """
    emu = _emulator(task_failure_rate=1.0)
    async with _client(emu) as client:
        request, app = await _request(client)
        handle = await client.images.submit(request, app=app)
        with pytest.raises(a1.TaskFailedError) as info:
            await handle.result()
    assert handle.task_id == info.value.task_id
    assert a1.TaskState.FAILED is handle.state


async def test_unknown_task_id_raises_the_api_error() -> None:
    """
    Waiting for an id the API does not know ends with its InvalidParamsError.
    """
    emu = _emulator()
    async with _client(emu) as client:
        with pytest.raises(a1.InvalidParamsError):
            await client.tasks.wait("0" * 32)


async def test_deadline_raises_timeout_and_leaves_the_server_job_alone() -> None:
    """
    A stuck task's wait raises TaskTimeoutError naming it at the deadline; nothing but
    task queries was sent, and the task carries on on the server.
    """
    emu = _emulator(task_stuck_rate=1.0)
    async with _client(emu) as client:
        request, app = await _request(client)
        handle = await client.images.submit(request, app=app)
        start = anyio.current_time()
        with pytest.raises(a1.TaskTimeoutError) as info:
            await handle.result(timeout=90)
        assert 90 == pytest.approx(anyio.current_time() - start)
        await anyio.sleep(300)
    assert handle.task_id == info.value.task_id
    assert a1.TaskState.RUNNING is info.value.last_state
    after = [e.endpoint for e in emu.journal if e.time > _created(emu, handle.task_id)]
    assert {"tasks"} == set(after)
    assert max(_polls(emu, handle.task_id)) <= start + 90
    assert 30 == emu.tasks[handle.task_id].state


async def test_as_completed_yields_every_task_once_in_completion_order() -> None:
    """
    Successes, failures and timeouts each come out exactly once, at the moment the poll
    (or deadline) that settled them, and a failure does not end the stream.
    """
    emu = _emulator(task_failure_rate=0.25, task_stuck_rate=0.15)
    arrivals: list[tuple[float, a1.Outcome]] = []
    async with _client(emu) as client:
        request, app = await _request(client)
        handles = [await client.images.submit(request, app=app) for _ in range(60)]
        start = anyio.current_time()
        async with client.tasks.as_completed(handles, timeout=120) as results:
            async for outcome in results:
                assert outcome.handle.state is not None or not outcome.ok
                arrivals.append((anyio.current_time(), outcome))
    kinds = Counter("ok" if o.ok else type(o.error).__name__ for _, o in arrivals)
    assert {h.task_id for h in handles} == {o.task_id for _, o in arrivals}
    assert 60 == len(arrivals)
    assert {"ok", "TaskFailedError", "TaskTimeoutError"} == set(kinds)
    first_failure = next(i for i, (_, o) in enumerate(arrivals) if not o.ok)
    assert any(o.ok for _, o in arrivals[first_failure:])
    times = [when for when, _ in arrivals]
    assert sorted(times) == times
    for when, outcome in arrivals:
        if isinstance(outcome.error, a1.TaskTimeoutError):
            assert start + 120 == pytest.approx(when)
        else:
            assert max(_polls(emu, outcome.task_id)) == pytest.approx(when)
            assert emu.complete_at(outcome.task_id) <= when


async def test_as_completed_takes_ids_and_handles_and_yields_duplicates_once() -> None:
    """
    Ids and handles may be mixed and repeated; each distinct task comes out once and is
    polled as one.
    """
    emu = _emulator()
    async with _client(emu) as client:
        request, app = await _request(client)
        handle = await client.images.submit(request, app=app)
        task_id = await client.images.generate(request)
        async with client.tasks.as_completed([handle, task_id, handle, task_id]) as results:
            outcomes = [outcome async for outcome in results]
    assert [1, 1] == sorted(Counter(o.task_id for o in outcomes).values())
    duration = emu.complete_at(handle.task_id) - _created(emu, handle.task_id)
    assert polls_until(EXACT, duration, 22.0) == len(_polls(emu, handle.task_id))


async def test_as_completed_of_nothing_ends_at_once() -> None:
    """
    An empty batch yields nothing and returns.
    """
    async with _client(_emulator()) as client, client.tasks.as_completed([]) as results:
        assert [] == [outcome async for outcome in results]


async def test_leaving_as_completed_early_stops_polling_the_rest() -> None:
    """
    Breaking out of the stream stops polling every task that had not finished.
    """
    emu = _emulator()
    async with _client(emu) as client:
        request, app = await _request(client)
        handles = [await client.images.submit(request, app=app) for _ in range(20)]
        async with client.tasks.as_completed(handles) as results:
            async for _ in results:
                break
        left = anyio.current_time()
        polls_at_exit = len([e for e in emu.journal if e.endpoint == "tasks"])
        await anyio.sleep(200)
        assert 0 == client._scheduler.waiting
    assert polls_at_exit == len([e for e in emu.journal if e.endpoint == "tasks"])
    assert all(e.time <= left for e in emu.journal if e.endpoint == "tasks")


async def test_wait_for_a_bare_task_id() -> None:
    """
    An id from generate() can be waited for directly; it is taken as submitted just now.
    """
    emu = _emulator()
    async with _client(emu) as client:
        request, _ = await _request(client)
        task_id = await client.images.generate(request)
        task = await client.tasks.wait(task_id)
    assert a1.TaskState.COMPLETED is task.state
    assert 5.0 == pytest.approx(_polls(emu, task_id)[0] - _created(emu, task_id))


async def test_waiting_without_async_with_says_to_use_it() -> None:
    """
    Waiting on a client that is not open with ``async with`` raises a RuntimeError that
    says how to fix it, and sends nothing.
    """
    emu = _emulator()
    client = _client(emu)
    handle = client.tasks.track("0" * 32)
    with pytest.raises(RuntimeError, match="async with"):
        await client.tasks.wait(handle)
    with pytest.raises(RuntimeError, match="async with"):
        await handle.result()
    with pytest.raises(RuntimeError, match="async with"):
        async with client.tasks.as_completed([handle]):
            pass  # pragma: no cover
    await client.aclose()
    assert [] == emu.journal


async def test_resume_from_a_token_in_a_fresh_client() -> None:
    """
    A handle's token, resumed by another client, waits for the same task and keeps its
    identity, hint and submission time.
    """
    emu = _emulator()
    async with _client(emu) as first:
        request, app = await _request(first)
        handle = await first.images.submit(request, app=app)
        token = handle.to_token()
    async with _client(emu) as second:
        resumed = second.tasks.resume(token)
        task = await resumed.result()
    assert a1.TaskState.COMPLETED is task.state
    assert (handle.task_id, handle.kind, handle.region, handle.app_id, handle.process_time) == (
        resumed.task_id,
        resumed.kind,
        resumed.region,
        resumed.app_id,
        resumed.process_time,
    )
    assert abs(handle.submitted_at - resumed.submitted_at) < dt.timedelta(milliseconds=1)


async def test_old_token_is_polled_at_once() -> None:
    """
    A token of a task submitted long ago is polled as soon as someone waits, not 5 s
    later.
    """
    emu = _emulator()
    async with _client(emu) as client:
        request, _ = await _request(client)
        task_id = await client.images.generate(request)
        await anyio.sleep(100)
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=100)
        token = client.tasks.track(task_id, submitted_at=long_ago).to_token()
        start = anyio.current_time()
        await client.tasks.resume(token).result()
    assert [start] == pytest.approx(_polls(emu, task_id))


async def test_token_is_small_versioned_json_without_secrets() -> None:
    """
    The token is a short JSON object with a version and the handle's identity, and no key.
    """
    emu = _emulator()
    async with _client(emu) as client:
        request, app = await _request(client)
        handle = await client.images.submit(request, app=app)
        token = handle.to_token()
    body = json.loads(token)
    assert len(token) < 256
    assert KEY not in token
    assert {
        "v": 1,
        "task_id": handle.task_id,
        "kind": "generate",
        "region": "global",
        "app_id": apps.FORM,
        "process_time": 22.0,
    } == {k: v for k, v in body.items() if k != "submitted_at"}
    assert math.isclose(handle.submitted_at.timestamp(), body["submitted_at"], abs_tol=1e-3)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not json",
        "[]",
        '{"v": 2, "task_id": "t", "kind": "generate", "region": "global", "submitted_at": 1}',
        '{"v": 1, "task_id": "", "kind": "generate", "region": "global", "submitted_at": 1}',
        '{"v": 1, "task_id": "t", "kind": "video", "region": "global", "submitted_at": 1}',
        '{"v": 1, "task_id": "t", "kind": "generate", "region": "mars", "submitted_at": 1}',
        '{"v": 1, "task_id": "t", "kind": "generate", "region": "global", "submitted_at": "x"}',
        '{"v": 1, "task_id": "t", "kind": "generate", "region": "global", "submitted_at": 1,'
        ' "process_time": true}',
        "{" + " " * 2000 + "}",
    ],
)
async def test_bad_tokens_are_refused(token: str) -> None:
    """
    Anything but a well-formed token of this version raises ValidationError.
    """
    client = _client(_emulator())
    with pytest.raises(a1.ValidationError):
        client.tasks.resume(token)
    await client.aclose()


async def test_cn_handle_sends_the_section_header() -> None:
    """
    A handle of a China-region task sends ``section: cn`` on its polls, whatever the
    client's region.
    """
    emu = _emulator()
    async with _client(emu) as client:
        request, _ = await _request(client)
        task_id = await client.images.generate(request)
        await client.tasks.wait(client.tasks.track(task_id, region="cn"))
    sections = {e.headers.get("section") for e in emu.journal if e.endpoint == "tasks"}
    assert {"cn"} == sections


async def test_closing_the_client_ends_waits_elsewhere() -> None:
    """
    A wait in a task outside the client's block gets RuntimeError when the client
    closes; no task of the client outlives it.
    """
    emu = _emulator()
    errors: list[BaseException] = []

    async def waiter(handle: a1.TaskHandle) -> None:
        try:
            await handle.result()
        except RuntimeError as error:
            errors.append(error)

    async with anyio.create_task_group() as tg:
        async with _client(emu) as client:
            request, app = await _request(client)
            handle = await client.images.submit(request, app=app)
            tg.start_soon(waiter, handle)
            await anyio.sleep(1)
        closed_at = anyio.current_time()
    assert 1 == len(errors)
    assert "closed" in str(errors[0])
    assert all(e.time <= closed_at for e in emu.journal)


async def test_an_error_in_the_block_propagates_unwrapped() -> None:
    """
    An exception raised inside ``async with client`` comes out as itself, not wrapped in
    an exception group.
    """
    with pytest.raises(KeyError):
        async with _client(_emulator()):
            raise KeyError("mine")


async def test_a_cancel_scope_around_the_client_works() -> None:
    """
    A timeout around the whole block cancels a pending wait and closes the client
    cleanly.
    """
    emu = _emulator(task_stuck_rate=1.0)
    with anyio.move_on_after(30) as scope:
        async with _client(emu) as client:
            request, app = await _request(client)
            await (await client.images.submit(request, app=app)).result()
    assert scope.cancelled_caught
    with pytest.raises(RuntimeError, match="closed"):
        async with client:
            pass  # pragma: no cover


async def test_refresh_queries_once_outside_the_schedule() -> None:
    """
    refresh() polls at once and updates the handle's state.
    """
    emu = _emulator()
    async with _client(emu) as client:
        request, app = await _request(client)
        handle = await client.images.submit(request, app=app)
        task = await handle.refresh()
    assert task.state in (a1.TaskState.SUBMITTED, a1.TaskState.RUNNING)
    assert task.state is handle.state
    assert 1 == len(_polls(emu, handle.task_id))
