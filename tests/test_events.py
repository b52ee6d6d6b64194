"""
Progress as events: one handle, many handles, a batch, and a client's listeners, in
virtual time on asyncio and trio against the emulator.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

import a1art_async as a1
from a1art_async.testing import Emulator, Faults, apps

pytestmark = pytest.mark.anyio

KEY = "events-key"
QUICK = a1.PollPolicy(first_delay=1.0, hint_fraction=0.0, interval=1.0, coalesce=0.0)


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


def _client(emu: Emulator, **kwargs: Any) -> a1.AsyncClient:
    kwargs.setdefault("poll_policy", QUICK)
    return a1.AsyncClient(api_key=KEY, transport=emu.transport(), **kwargs)


async def _submit(client: a1.AsyncClient, prompt: str = "a lighthouse") -> a1.TaskHandle:
    return await client.generate(apps.TEXT, prompt=prompt, style="Seaside Town", aspect="1:1")


async def test_one_handle_streams_its_states_until_done() -> None:
    """
    A handle's events start with SUBMITTED, follow the states its polls see, and end
    with DONE carrying the finished task.
    """
    emu = Emulator(api_key=KEY, seed=3, faults=Faults(task_concurrency=1))
    async with _client(emu) as client:
        first = await _submit(client, "first")
        second = await _submit(client, "second")  # waits in the queue behind the first
        async with second.events() as events:
            seen = [event async for event in events]
        await first.result()
    kinds = [event.kind for event in seen]
    assert a1.EventKind.SUBMITTED == kinds[0]
    assert [a1.EventKind.QUEUED, a1.EventKind.RUNNING, a1.EventKind.DONE] == [
        kind for kind in dict.fromkeys(kinds[1:])
    ]
    assert {second.task_id} == {event.task_id for event in seen}
    assert seen[-1].task is not None
    assert a1.TaskState.COMPLETED is seen[-1].task.state


async def test_many_handles_end_once_each_failures_included() -> None:
    """
    A stream over several tasks ends after one final event per task; a failed task ends
    FAILED with TaskFailedError, and a task id given twice counts once.
    """
    emu = Emulator(api_key=KEY, seed=1, faults=Faults(task_failure_rate=0.5))
    async with _client(emu) as client:
        handles = [await _submit(client, f"lighthouse {n}") for n in range(6)]
        async with client.tasks.events([*handles, handles[0].task_id]) as events:
            finals = [event async for event in events if event.kind.is_final]
    assert sorted(h.task_id for h in handles) == sorted(e.task_id or "" for e in finals)
    failed = [event for event in finals if event.kind is a1.EventKind.FAILED]
    assert failed, "the seed fails some tasks"
    assert all(isinstance(event.error, a1.TaskFailedError) for event in failed)


async def test_a_stream_past_its_deadline_ends_failed_with_a_timeout() -> None:
    """
    A wait that passes its deadline ends the stream with FAILED and TaskTimeoutError; the
    task itself goes on.
    """
    emu = Emulator(api_key=KEY, seed=0, faults=Faults(task_stuck_rate=1.0))
    async with _client(emu) as client:
        handle = await _submit(client)
        async with handle.events(timeout=10) as events:
            seen = [event async for event in events]
    assert a1.EventKind.FAILED == seen[-1].kind
    assert isinstance(seen[-1].error, a1.TaskTimeoutError)


class _Unreachable(httpx.AsyncBaseTransport):
    """
    The emulator until ``down`` is set; then every connection is refused.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.down = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return await self.inner.handle_async_request(request)


async def test_an_unreachable_api_shows_within_seconds_and_names_itself() -> None:
    """
    When the API stops answering, a RETRYING event with the connection error comes
    within seconds, and a wait that reaches its deadline names the last error it saw.
    """
    emu = Emulator(api_key=KEY, seed=0)
    transport = _Unreachable(emu.transport())
    client = a1.AsyncClient(
        api_key=KEY,
        transport=transport,
        poll_policy=QUICK,
        retry=a1.RetryPolicy(max_retries=2, initial=0.5, cap=1.0),
    )
    seen: list[tuple[float, a1.Event]] = []
    async with client:
        handle = await _submit(client)
        transport.down = True
        stopped = anyio.current_time()
        listener = client.listening(lambda event: seen.append((anyio.current_time(), event)))
        with listener, pytest.raises(a1.TaskTimeoutError) as caught:
            await handle.result(timeout=30)
    retrying = [(at, e) for at, e in seen if e.kind is a1.EventKind.RETRYING]
    assert retrying
    assert retrying[0][0] - stopped <= 3.0
    assert isinstance(retrying[0][1].error, a1.ConnectError)
    assert "could not connect" in str(caught.value)
    assert isinstance(caught.value.last_error, a1.ConnectError)


async def test_a_batch_labels_its_events_with_job_keys(tmp_path: Path) -> None:
    """
    A batch's listener sees, for each job, SUBMITTED then the states of its task, and
    one final event that matches the job's outcome, all with the job's key.
    """
    emu = Emulator(api_key=KEY, seed=2, faults=Faults(task_failure_rate=0.3))
    seen: list[a1.Event] = []
    client = _client(emu)
    async with client, client.batch(journal=tmp_path / "j.sqlite", on_event=seen.append) as batch:
        for n in range(8):
            batch.add(apps.TEXT, key=f"job-{n}", prompt=f"n{n}", style="Seaside Town", aspect="1:1")
        outcomes = {o.key: o async for o in batch}
    by_key: dict[str | None, list[a1.EventKind]] = {}
    for event in seen:
        by_key.setdefault(event.key, []).append(event.kind)
    assert set(outcomes) == set(by_key)
    assert any(a1.EventKind.RUNNING in kinds for kinds in by_key.values())
    for key, kinds in by_key.items():
        outcome = outcomes[key or ""]
        assert a1.EventKind.SUBMITTED == kinds[0]
        assert 1 == sum(kind.is_final for kind in kinds)
        assert outcome.state.value == kinds[-1].value


async def test_handle_state_and_events_agree_before_any_poll() -> None:
    """
    Right after submit a handle reads SUBMITTED, and so does its first event.
    """
    emu = Emulator(api_key=KEY, seed=0)
    async with _client(emu) as client:
        handle = await _submit(client)
        state = handle.state
        async with handle.events() as events:
            first = await events.__anext__()
    assert (a1.TaskState.SUBMITTED, a1.EventKind.SUBMITTED) == (state, first.kind)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_outcome_pair_narrows_under_mypy_strict(tmp_path: Path) -> None:
    """
    ``outcome.task if outcome.ok else outcome.error`` type-checks under mypy --strict,
    with the task typed as a Task where ``ok`` is true.
    """
    from mypy import api

    source = tmp_path / "narrowing.py"
    source.write_text(
        textwrap.dedent(
            """
            from typing import assert_type

            import a1art_async as a1


            def use(outcome: a1.Outcome) -> a1.Task | Exception:
                if outcome.ok:
                    assert_type(outcome.task, a1.Task)
                else:
                    assert_type(outcome.error, Exception)
                return outcome.task if outcome.ok else outcome.error
            """
        )
    )
    stdout, stderr, status = await anyio.to_thread.run_sync(
        api.run, ["--strict", "--no-incremental", str(source)]
    )
    assert 0 == status, stdout + stderr
