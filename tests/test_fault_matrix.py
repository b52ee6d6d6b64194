"""
The fault matrix: the same mixed workload (batch and direct generations on form, node,
group photo and video apps, enhances, waits and downloads) under each fault knob alone
and several together, in virtual time, and once over loopback HTTP.

Every cell must keep every rule of ``tests/_matrix.py``: each job ends exactly once (done,
a typed failure, or outcome-unknown), no generate is sent again unless the first provably
did nothing, the credits charged are the credits estimated for the jobs that ran, no task
is polled before 5 s, nothing is logged as an error, and the key reaches only the API.
"""

from __future__ import annotations

import gc
from pathlib import Path

import httpx
import pytest

import a1art_async as a1
from a1art_async.testing import Emulator

from . import _matrix
from .test_emulator_server import _serving

pytestmark = pytest.mark.anyio

#: Jobs per cell: every route and kind of app once.
JOBS = len(_matrix.make_jobs(9))


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


@pytest.mark.parametrize("name", list(_matrix.CELLS))
async def test_every_rule_holds_under_the_cell(name: str, tmp_path: Path) -> None:
    """
    Under this cell's faults every job ends once, typed, paid once, polled no earlier
    than 5 s, with nothing logged as an error.
    """
    emulator = Emulator(api_key="matrix-key-0123456789", balance=100_000, seed=1)
    run = await _matrix.run_cell(
        _matrix.InProcess(emulator), _matrix.CELLS[name], jobs=JOBS, folder=tmp_path
    )
    gc.collect()  # an unclosed response or file warns now, inside this test
    figures = _matrix.figures(run)
    cell = _matrix.CELLS[name]
    assert [] == list(figures.violations)
    assert JOBS == figures.done + figures.failed + figures.unknown
    assert figures.generate_calls_per_job <= 1
    assert cell.shows is None or cell.shows in figures.seen


async def test_the_baseline_cell_does_everything(tmp_path: Path) -> None:
    """
    Without faults every job is done, one generate each, all polled and downloaded.
    """
    emulator = Emulator(api_key="matrix-key-0123456789", balance=100_000, seed=2)
    run = await _matrix.run_cell(
        _matrix.InProcess(emulator), _matrix.CELLS["baseline"], jobs=JOBS, folder=tmp_path
    )
    figures = _matrix.figures(run)
    assert (JOBS, 0, 0) == (figures.done, figures.failed, figures.unknown)
    assert (1, 1.0, JOBS) == (
        figures.generate_calls_per_job,
        figures.requests_per_job,
        figures.tasks,
    )
    assert figures.credits_charged == emulator.charged()
    assert figures.credits_estimated_low <= figures.credits_charged <= figures.credits_estimated
    assert figures.earliest_poll is not None
    assert figures.earliest_poll >= 5.0 - 1e-6


class TestOverLoopbackHTTP:
    """
    Real sockets, real time: the emulator served by uvicorn in another process.
    """

    @pytest.fixture
    def anyio_backend(self) -> object:
        # One run keeps CI quick; the soak session runs it on trio too.
        return "asyncio"

    async def test_every_rule_holds_over_real_http(self, tmp_path: Path) -> None:
        """
        Several faults at once over loopback HTTP keep every rule, and the default
        PollPolicy's 5 s first poll holds on the server's clock.
        """
        arguments = ["--time-scale", "0.001", "--balance", "100000", "--seed", "3"]
        async with _serving(*arguments) as (_, banner), httpx.AsyncClient() as admin:
            run = await _matrix.run_cell(
                _matrix.Loopback(banner, admin),
                _matrix.HTTP_CELL,
                jobs=JOBS,
                folder=tmp_path,
                poll_policy=a1.PollPolicy(hint_fraction=0.0),
                window_scale=0.25,
            )
        gc.collect()
        figures = _matrix.figures(run)
        assert [] == list(figures.violations)
        assert JOBS == figures.done + figures.failed + figures.unknown
        assert figures.done > 0
