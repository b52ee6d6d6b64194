"""
The emulator's timeline: tasks progress by the time that passes under event loops, never
by a change of loop, and a custom clock never runs backwards.

Each ``anyio.run`` below starts a virtual clock at a chosen reading, the way trio starts
every run's clock at a random offset of hours.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
import pytest
from trio.testing import MockClock

from a1art_async.testing import Emulator, VirtualTimeEventLoop, apps

from .test_emulator_support import API, KEY, code_of, generate, plain_client, valid_body

T = TypeVar("T")

EPS = 1e-3
HOURS = 20_000.0


def _run_at(backend: str, start: float, func: Callable[[], Awaitable[T]]) -> T:
    """
    ``anyio.run(func)`` on *backend* with a virtual clock that reads *start* at first.
    """
    if backend == "asyncio":

        def factory() -> VirtualTimeEventLoop:
            loop = VirtualTimeEventLoop()
            loop.advance(start)
            return loop

        return anyio.run(func, backend="asyncio", backend_options={"loop_factory": factory})
    clock = MockClock(autojump_threshold=0)
    clock.jump(start)
    return anyio.run(func, backend="trio", backend_options={"clock": clock})


async def _state(emu: Emulator, task_id: str) -> int:
    async with plain_client(emu) as c:
        response = await c.get(f"{API}/tasks/{task_id}")
    assert 0 == code_of(response)
    state: int = response.json()["data"]["state"]
    return state


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("second_start", [0.0, 3 * HOURS], ids=["clock-behind", "clock-ahead"])
def test_a_task_created_under_one_run_finishes_on_schedule_under_the_next(
    backend: str, second_start: float
) -> None:
    """
    A task created under one ``anyio.run`` reaches state 10 exactly its duration later
    when polled under a second ``anyio.run`` whose clock reads hours apart.
    """
    emu = Emulator(api_key=KEY, seed=0)

    async def create() -> tuple[str, float]:
        async with plain_client(emu) as c:
            response = await generate(c, await valid_body(c, apps.FORM))
        assert 0 == code_of(response)
        task_id: str = response.json()["data"]["taskId"]
        return task_id, emu.complete_at(task_id) - emu.tasks[task_id].created_at

    async def poll(left: float) -> list[int]:
        states = [await _state(emu, task_id)]
        await anyio.sleep(left - EPS)
        states.append(await _state(emu, task_id))
        await anyio.sleep(2 * EPS)
        states.append(await _state(emu, task_id))
        return states

    task_id, left = _run_at(backend, HOURS, create)
    states = _run_at(backend, second_start, lambda: poll(left))
    assert left > 10
    assert [False, False, True] == [state == 10 for state in states]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_time_stands_still_between_runs(backend: str) -> None:
    """
    Outside any event loop the emulator's time is its last reading, and tasks can still
    be inspected there.
    """
    emu = Emulator(api_key=KEY, seed=0)

    async def create() -> tuple[str, float]:
        async with plain_client(emu) as c:
            response = await generate(c, await valid_body(c, apps.TEXT))
        await anyio.sleep(5)
        task_id: str = response.json()["data"]["taskId"]
        return task_id, emu.now()

    task_id, last = _run_at(backend, HOURS, create)
    assert HOURS + 5 == pytest.approx(last)
    assert last == emu.now()
    assert 30 == emu.tasks[task_id].state


def test_the_timeline_is_unread_before_any_loop() -> None:
    """
    Before any event loop used it, an emulator on the default clock has no time to
    report outside a loop.
    """
    with pytest.raises(RuntimeError):
        Emulator(api_key=KEY).now()


def test_a_custom_clock_never_runs_backwards() -> None:
    """
    A custom clock that goes back is held at its latest reading, then followed forward.
    """
    reading = [100.0]
    emu = Emulator(api_key=KEY, clock=lambda: reading[0])
    seen = [emu.now()]
    reading[0] = 40.0
    seen.append(emu.now())
    reading[0] = 45.0
    seen.append(emu.now())
    reading[0] = 200.0
    seen.append(emu.now())
    assert [100.0, 100.0, 105.0, 260.0] == seen
