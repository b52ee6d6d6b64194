"""
Ctrl-C during ``a1art batch``: the first stops the batch without losing what was paid
for (paid requests on their way bring their answers into the journal), the second gives
those answers up; in process against the three emulators, in virtual time, on both
backends.
"""

from __future__ import annotations

import io
import json
import math
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

from a1art_async._cli._app import run_context
from a1art_async._cli._args import parse
from a1art_async._cli._context import Context
from a1art_async._engine._journal import SQLiteJournal
from a1art_async.testing import apps
from a1art_async.testing.gateway import models

from ._mixed import A1ART_KEY, KEYS, Emulators, emulators, provider_environment

#: Seconds a synchronous model takes to answer, after the charge (under the client's
#: 300 s read timeout).
SLOW = 250.0

ROWS = [
    {"key": "hills", "app": apps.TEXT, "style": "Summer Meadow", "aspect": "1:1",
     "prompt": "hills"},
    {"provider": "akool", "key": "sea", "prompt": "a calm sea", "scale": "3:2"},
    {"provider": "gateway", "key": "quay", "model": models.GPT_IMAGE, "prompt": "a quay"},
    {"provider": "gateway", "key": "pier", "model": models.GPT_IMAGE, "prompt": "a pier"},
]  # fmt: skip


@pytest.fixture
def anyio_backend(virtual_backend: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    # The journal written on the loop, not in a worker thread: virtual time jumps to the
    # next deadline while a thread works, which would move the emulators' answers ahead
    # of the Ctrl-C under test.  (A local file's writes take microseconds.)
    monkeypatch.setattr(SQLiteJournal, "blocking", False, raising=False)
    return virtual_backend


@pytest.fixture
def emus(monkeypatch: pytest.MonkeyPatch) -> Emulators:
    found = emulators()
    provider_environment(monkeypatch, found)
    found.gateway.faults.sync_latency = SLOW
    return found


@attrs.frozen
class Ran:
    code: int
    stdout: str
    stderr: str


async def _batch(emus: Emulators, jobs: Path, *, interrupts: Sequence[float] = ()) -> Ran:
    """
    ``a1art batch JOBS --json --out DIR`` on the current loop; with *interrupts*,
    Ctrl-C once both synchronous generations are on their way and the other jobs'
    tasks are journaled, and again at each of the given seconds after that.
    """
    argv = ["--api-key", A1ART_KEY, "--json", "batch", str(jobs), "--out", str(jobs.parent)]
    args, _ = parse(argv)
    out, err = io.StringIO(), io.StringIO()
    ctx = Context(args, stdout=out, stderr=err, transport=emus.transport())
    first = math.inf
    code = 0
    async with anyio.create_task_group() as group:

        async def interrupt() -> None:
            nonlocal first
            while not _on_their_way(emus, jobs):  # noqa: ASYNC110 - other APIs' state
                await anyio.sleep(0.5)
            first = anyio.current_time()
            for after in interrupts:
                await anyio.sleep_until(first + after)
                ctx.interrupts.interrupt()

        if interrupts:
            group.start_soon(interrupt)
        # No fail_after: while the journal's thread works, virtual time jumps to the
        # next deadline, which would be its own.  The per-test time limit guards hangs.
        code = await run_context(ctx)
        group.cancel_scope.cancel()
    ran = Ran(code, out.getvalue(), err.getvalue())
    assert not any(key in ran.stdout + ran.stderr for key in KEYS)
    return ran


def _on_their_way(emus: Emulators, jobs: Path) -> bool:
    if (
        emus.gateway.generation_calls() < 2
        or not jobs.with_name(f"{jobs.name}.journal.sqlite").exists()
    ):
        return False
    states = _journal(jobs)
    return all(states.get(key) in ("submitted", "done") for key in ("hills", "sea"))


def _journal(jobs: Path) -> dict[str, str]:
    with sqlite3.connect(jobs.parent / f"{jobs.name}.journal.sqlite") as db:
        return dict(db.execute("SELECT key, state FROM jobs").fetchall())


def _write(tmp_path: Path) -> Path:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    return jobs


@pytest.mark.anyio
async def test_ctrl_c_lets_paid_answers_on_their_way_reach_the_journal(
    emus: Emulators, tmp_path: Path
) -> None:
    """
    Ctrl-C while two synchronous generations are on their way waits for their answers,
    journals them with the other jobs' tasks, prints one document and exits 130; the
    same command again saves and finishes everything, paying for nothing twice.
    """
    jobs = _write(tmp_path)
    stopped = await _batch(emus, jobs, interrupts=[0.0])
    assert 130 == stopped.code, stopped.stderr
    assert "a1art: stopping; 2 paid requests on their way" in stopped.stderr
    assert "a1art: interrupted; run the same command again to resume" in stopped.stderr
    assert 4 == json.loads(stopped.stdout)["summary"]["jobs"]  # one document
    journaled = _journal(jobs)
    # The two tasks were journaled before the Ctrl-C (either may have finished since).
    assert {"submitted", "done"} >= {journaled["hills"], journaled["sea"]}
    assert ("answered", "answered") == (journaled["quay"], journaled["pier"])
    paid = emus.paid()
    assert {"a1art": 1, "akool": 1, "gateway": 2} == paid

    resumed = await _batch(emus, jobs)
    assert (0, paid) == (resumed.code, emus.paid())
    assert {"done"} == set(_journal(jobs).values())
    saved = {path.name.split("-")[0] for path in tmp_path.glob("*.png")}
    assert {"hills", "sea", "quay", "pier"} <= saved


@pytest.mark.anyio
async def test_a_second_ctrl_c_gives_the_answers_up_as_unknown(
    emus: Emulators, tmp_path: Path
) -> None:
    """
    A second Ctrl-C ends the run at once, saying that the answers it gave up may have
    been charged; the next run reports those jobs unknown and sends them nowhere again.
    """
    jobs = _write(tmp_path)
    abandoned = await _batch(emus, jobs, interrupts=[0.0, 0.01])
    assert 130 == abandoned.code, abandoned.stderr
    assert "a1art: gave up the answers of 2 paid requests" in abandoned.stderr
    assert ("submitting", "submitting") == (_journal(jobs)["quay"], _journal(jobs)["pier"])

    resumed = await _batch(emus, jobs)
    states = {job["key"]: job["state"] for job in json.loads(resumed.stdout)["jobs"]}
    assert {"hills": "done", "sea": "done", "quay": "unknown", "pier": "unknown"} == states
    assert {"a1art": 1, "akool": 1, "gateway": 2} == emus.paid()
