from __future__ import annotations

import time

import anyio
import pytest


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


@pytest.mark.anyio
async def test_sleeps_jump_to_the_next_deadline() -> None:
    """
    Under virtual time, an hour of sleeping costs no real time and is measured exactly.
    """
    start, real_start = anyio.current_time(), time.perf_counter()
    async with anyio.create_task_group() as tg:
        for delay in (5, 22, 45, 3600):
            tg.start_soon(anyio.sleep, delay)
    with anyio.move_on_after(10):
        await anyio.sleep(100)

    assert 3610 == pytest.approx(anyio.current_time() - start)
    assert time.perf_counter() - real_start < 1.0
