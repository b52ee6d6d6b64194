"""
The distributed ``a1art batch`` in process against the emulator and a real PostgreSQL:
the file streamed into the journal (keys compared in the database), and the work done
on the key's shared request budget.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from a1art_async._cli._app import run_parsed
from a1art_async._cli._args import parse
from a1art_async.distributed._tokens import key_hash
from a1art_async.testing import Emulator, apps

from ._postgres import dsn, postgres_cluster  # noqa: F401 - fixtures

KEY = "sk-dist-cli-0123456789"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _row(n: int, **fields: Any) -> str:
    body = {"app": apps.TEXT, "prompt": f"dune {n}", "style": "Summer Meadow", "aspect": "1:1"}
    return json.dumps({**body, **fields}) + "\n"


def _journaled(url: str) -> int:
    with psycopg.connect(url) as connection:
        exists = connection.execute("SELECT to_regclass('a1art_jobs') IS NOT NULL").fetchone()
        if not (exists and exists[0]):
            return 0
        row = connection.execute("SELECT count(*) FROM a1art_jobs").fetchone()
    return int(row[0]) if row else 0


async def _batch(emulator: Emulator, *argv: str) -> tuple[int, dict[str, Any], str]:
    args, _ = parse(["--api-key", KEY, "--time-scale", "0.001", "--json", "batch", *argv])
    out, err = io.StringIO(), io.StringIO()
    status = await run_parsed(args, stdout=out, stderr=err, transport=emulator.transport())
    return status, json.loads(out.getvalue()), err.getvalue()


@pytest.mark.anyio
async def test_repeated_keys_are_found_in_the_database_and_fail_alone(
    dsn: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """
    A streamed file's row that repeats an earlier key fails alone, named by its line,
    while identical rows without keys are numbered apart and all enqueued.
    """
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(_row(1, key="a") + _row(2, key="a") + _row(3) + _row(3) + _row(4, key="b"))
    emulator = Emulator(api_key=KEY, balance=100, time_scale=0.001)
    status, document, _ = await _batch(
        emulator, str(jobs), "--journal", dsn, "--batch", "r", "--workers", "0"
    )
    with psycopg.connect(dsn) as connection:
        keys = [k for (k,) in connection.execute("SELECT key FROM a1art_jobs ORDER BY seq")]
    assert 6 == status
    assert ["line 2: key: 'a' is used by line 1 too"] == document["bad_rows"]
    assert (4, 4) == (document["added"], len(keys))
    assert ["a", "b"] == [k for k in keys if len(k) == 1]
    derived = sorted(k for k in keys if k.startswith("job-"))
    assert [derived[0], derived[0] + "-2"] == derived


@pytest.mark.anyio
async def test_batch_with_workers_draws_on_the_keys_shared_budget(
    dsn: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """
    ``a1art batch --journal postgresql:// --workers 1`` runs every job on the key's
    request budget in the database, as ``a1art worker`` does, and reports each job.
    """
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(_row(n, key=f"k{n}") for n in range(6)))
    emulator = Emulator(api_key=KEY, balance=100, time_scale=0.001)
    status, document, err = await _batch(
        emulator, str(jobs), "--journal", dsn, "--batch", "s", "--workers", "1"
    )
    with psycopg.connect(dsn) as connection:
        budgets = connection.execute("SELECT key_hash FROM a1art_rates").fetchall()
    assert 0 == status, err
    assert [(key_hash(KEY),)] == budgets
    assert 6 == document["summary"]["done"]
    assert {f"k{n}  done" for n in range(6)} <= set(err.splitlines())
    assert 6 == emulator.generate_calls()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        ("", (), "has no jobs"),
        ("app,colour\n1,red\n", (), "unknown column"),
        (_row(1), ("--estimate",), "--estimate"),
    ],
)
async def test_a_file_that_cannot_run_stops_before_anything_is_journaled(
    dsn: str,  # noqa: F811
    tmp_path: Path,
    content: str,
    extra: tuple[str, ...],
    message: str,
) -> None:
    """
    An empty file, a CSV column no job takes, or --estimate (which must never run a
    batch) stop the command with status 2, and the journal holds no job.
    """
    jobs = tmp_path / ("jobs.csv" if content.startswith("app,") else "jobs.jsonl")
    jobs.write_text(content)
    emulator = Emulator(api_key=KEY, balance=100, time_scale=0.001)
    args, _ = parse(["--api-key", KEY, "batch", str(jobs), "--journal", dsn, *extra])
    err = io.StringIO()
    status = await run_parsed(
        args, stdout=io.StringIO(), stderr=err, transport=emulator.transport()
    )
    jobs_in_journal = _journaled(dsn)
    assert (2, 0, 0) == (status, jobs_in_journal, emulator.generate_calls())
    assert message in err.getvalue()
