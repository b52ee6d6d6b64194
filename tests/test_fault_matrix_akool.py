"""
The akool fault matrix: the same mixed workload (a journaled batch of creates and
presses, direct creates, create-then-press chains, downloads, webhooks) under each
fault knob alone and several together, in virtual time on asyncio and trio.

Every cell keeps every rule of ``tests/_matrix_akool.py``: each job ends once, typed; no
paid request is resent unless the attempt before provably did nothing; the credits
charged are 2 per image made; the key reaches only the API; forged webhooks are refused.
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from a1art_async.testing.akool import Emulator

from . import _matrix_akool as matrix

pytestmark = pytest.mark.anyio

JOBS = 9


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


@pytest.mark.parametrize("name", list(matrix.CELLS))
async def test_every_rule_holds_under_the_cell(name: str, tmp_path: Path) -> None:
    """
    Under this cell's faults every job ends once, typed, paid once, charged as
    estimated, with the key only at the API and nothing logged as an error.
    """
    cell = matrix.CELLS[name]
    run = await matrix.run_cell(Emulator(seed=11), cell, jobs=JOBS, folder=tmp_path)
    gc.collect()
    figures = matrix.figures(run)
    assert [] == list(figures.violations)
    assert figures.jobs == figures.done + figures.failed + figures.unknown
    assert figures.paid_requests_per_request <= 1
    assert cell.shows is None or cell.shows in figures.seen, figures.seen


async def test_the_baseline_cell_does_everything(tmp_path: Path) -> None:
    """
    Without faults every job is done: one request per create and press, all charged.
    """
    run = await matrix.run_cell(
        Emulator(seed=12), matrix.CELLS["baseline"], jobs=JOBS, folder=tmp_path
    )
    figures = matrix.figures(run)
    # 3 batch creates + 3 batch presses + 3 direct creates + 3 chains (create and press).
    assert (12, 0, 0) == (figures.done, figures.failed, figures.unknown)
    assert (15, 30, 30) == (figures.images, figures.credits_charged, figures.credits_estimated)
