"""
Distributed batches of job files that mix providers, in process against the three
emulators and a real PostgreSQL: ``a1art batch --journal postgresql://`` enqueues and
works on a1.art, akool and gateway rows, ``a1art worker`` opens the clients its rows
need, each key draws on its own shared request budget, and an akool press runs on an
image made in another shard or an earlier run.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from a1art_async import akool, gateway
from a1art_async._cli._app import run_parsed
from a1art_async._cli._args import parse
from a1art_async._cli._context import scaled_policy
from a1art_async._cli._providers import akool_policy
from a1art_async._engine._batch import (
    BatchOutcome,
    PrerequisiteFailedError,
    PrerequisitePendingError,
)
from a1art_async._engine._errors import ValidationError
from a1art_async._engine._journal import JobState
from a1art_async._engine._limiter import LocalTokenSource
from a1art_async.distributed import run_worker
from a1art_async.distributed._shards import _can_end_later, queue_of
from a1art_async.distributed._tokens import key_hash
from a1art_async.testing import Emulator as A1ArtEmulator
from a1art_async.testing import apps
from a1art_async.testing.akool import Emulator as AkoolEmulator
from a1art_async.testing.gateway import Emulator as GatewayEmulator
from a1art_async.testing.gateway import models

from ._mixed import (
    A1ART_KEY,
    AKOOL_KEY,
    GATEWAY_KEY,
    KEYS,
    Emulators,
    emulators,
    provider_environment,
)
from ._postgres import dsn, postgres_cluster  # noqa: F401 - fixtures

SCALE = "0.001"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # distributed batches run on asyncio only


@pytest.fixture
def emus(monkeypatch: pytest.MonkeyPatch) -> Emulators:
    found = emulators(time_scale=float(SCALE))
    provider_environment(monkeypatch, found)
    return found


TEXT = {"app": apps.TEXT, "style": "Summer Meadow", "aspect": "1:1"}
MIXED = [
    {"key": "hills", **TEXT, "prompt": "hills"},
    {"provider": "akool", "key": "sea", "prompt": "a calm sea", "scale": "3:2"},
    {"provider": "akool", "press": "sea", "button": "U2"},
    {"provider": "gateway", "key": "now", "model": models.SEEDREAM, "prompt": "a harbour"},
    {"provider": "gateway", "key": "inline", "model": models.GPT_IMAGE, "prompt": "a quay"},
    {"provider": "gateway", "key": "later", "model": models.WANX,
     "params": {"input": {"prompt": "a pier"}}},
]  # fmt: skip


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


async def _run(emus: Emulators, *argv: str, key: bool = True) -> tuple[int, Any, str]:
    options = ["--api-key", A1ART_KEY] if key else []
    args, _ = parse([*options, "--time-scale", SCALE, "--json", *argv])
    out, err = io.StringIO(), io.StringIO()
    status = await run_parsed(args, stdout=out, stderr=err, transport=emus.transport())
    for secret in KEYS:
        assert secret not in out.getvalue() + err.getvalue()
    return status, json.loads(out.getvalue()), err.getvalue()


def _jobs(url: str, batch: str) -> dict[str, tuple[str, str]]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT key, provider, state FROM a1art_jobs WHERE batch = %s", (batch,)
        ).fetchall()
    return {key: (provider, state) for key, provider, state in rows}


@pytest.mark.anyio
async def test_a_mixed_file_is_enqueued_and_run_through_each_providers_client(
    emus: Emulators,
    dsn: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """
    ``a1art batch --journal postgresql:// --workers 1`` journals each row with its
    provider and runs it through that provider's client, each paid once, each key on
    its own shared request budget.
    """
    jobs = _write(tmp_path / "mixed.jsonl", MIXED)
    status, document, err = await _run(
        emus, "batch", str(jobs), "--journal", dsn, "--batch", "m", "--workers", "1"
    )
    with psycopg.connect(dsn) as connection:
        budgets = {row[0] for row in connection.execute("SELECT key_hash FROM a1art_rates")}
    assert 0 == status, err
    assert 6 == document["summary"]["done"]
    assert {"a1art": 1, "akool": 2, "gateway": 3} == emus.paid()
    providers = {key: provider for key, (provider, _) in _jobs(dsn, "m").items()}
    assert ("a1art", "akool", "akool", "gateway") == (
        providers["hills"],
        providers["sea"],
        providers["sea-U2"],
        providers["inline"],
    )
    assert {key_hash(key) for key in KEYS} == budgets
    assert [] == emus.foreign_keys()


@pytest.mark.anyio
async def test_a_worker_opens_the_clients_its_rows_need(
    emus: Emulators,
    dsn: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    ``a1art worker`` refuses to start without the key of a provider whose jobs the
    journal has to run, and otherwise runs every row of the batch through its
    provider's client; a gateway-only batch needs no a1.art key.
    """
    jobs = _write(tmp_path / "mixed.jsonl", MIXED)
    enqueued, _, err = await _run(
        emus, "batch", str(jobs), "--journal", dsn, "--batch", "w", "--workers", "0"
    )
    assert 0 == enqueued, err
    monkeypatch.delenv("AKOOL_API_KEY")
    refused, body, _ = await _run(emus, "worker", "--journal", dsn, "--batch", "w", "--until-done")
    assert 2 == refused
    assert "set AKOOL_API_KEY" in body["error"]["message"]
    monkeypatch.setenv("AKOOL_API_KEY", AKOOL_KEY)
    status, report, err = await _run(
        emus, "worker", "--journal", dsn, "--batch", "w", "--until-done"
    )
    assert 0 == status, err
    assert (6, 0, 0) == (report["done"], report["failed"], report["unknown"])
    assert {"done"} == {state for _, state in _jobs(dsn, "w").values()}

    only_gateway = _write(tmp_path / "gateway.jsonl", MIXED[3:])
    queued, _, err = await _run(
        emus, "batch", str(only_gateway), "--journal", dsn, "--batch", "g", "--workers", "0",
        key=False,
    )  # fmt: skip
    assert 0 == queued, err
    monkeypatch.delenv("AKOOL_API_KEY")
    status, report, err = await _run(
        emus, "worker", "--journal", dsn, "--batch", "g", "--until-done", key=False
    )
    assert (0, 3) == (status, report["done"]), err
    assert {"a1art": 1, "akool": 2, "gateway": 6} == emus.paid()
    assert GATEWAY_KEY in KEYS


@pytest.mark.anyio
async def test_a_press_runs_on_an_image_made_in_an_earlier_run(
    emus: Emulators,
    dsn: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """
    A press enqueued after the row it presses on was done (so that row is in no shard
    any more) reads that row's image from the journal and runs, paid once.
    """
    first = _write(tmp_path / "first.jsonl", [MIXED[1]])
    status, _, err = await _run(
        emus, "batch", str(first), "--journal", dsn, "--batch", "p", "--workers", "1"
    )
    assert 0 == status, err
    second = _write(tmp_path / "second.jsonl", [MIXED[1], MIXED[2]])
    status, document, err = await _run(
        emus, "batch", str(second), "--journal", dsn, "--batch", "p", "--workers", "1"
    )
    assert 0 == status, err
    assert (2, 1) == (document["summary"]["done"], document["summary"]["ended_before"])
    assert {"sea": ("akool", "done"), "sea-U2": ("akool", "done")} == _jobs(dsn, "p")
    assert 2 == emus.akool.paid_requests()


def test_a_job_whose_prerequisite_runs_elsewhere_leaves_its_shard_to_run_again() -> None:
    """
    A press whose image another worker is still making leaves its shard unfinished (a
    later run may go ahead); one whose image failed does not.
    """
    pending = BatchOutcome("p", JobState.FAILED, error=PrerequisitePendingError("on its way"))
    failed = BatchOutcome("p", JobState.FAILED, error=PrerequisiteFailedError("ended failed"))
    assert (True, False) == (_can_end_later(pending), _can_end_later(failed))


@pytest.mark.anyio
async def test_a_press_in_another_shard_runs_once_its_image_is_made_there(
    dsn: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    With a shard per row and two workers, a press whose create another shard is still
    making leaves its shard to be run again, and then runs on that image, each paid once.
    """
    emus = Emulators(
        A1ArtEmulator(api_key=A1ART_KEY, balance=1000, seed=3, time_scale=float(SCALE)),
        AkoolEmulator(api_key=AKOOL_KEY, seed=3, time_scale=0.02),  # a create takes ~0.6 s
        GatewayEmulator(api_key=GATEWAY_KEY, seed=3, time_scale=float(SCALE)),
    )
    provider_environment(monkeypatch, emus)
    jobs = _write(tmp_path / "chain.jsonl", MIXED[1:3])
    status, _, err = await _run(
        emus, "batch", str(jobs), "--journal", dsn, "--batch", "c", "--workers", "2",
        "--shard-size", "1",
    )  # fmt: skip
    assert 0 == status, err
    assert {"sea": ("akool", "done"), "sea-U2": ("akool", "done")} == _jobs(dsn, "c")
    assert 2 == emus.akool.paid_requests()
    with psycopg.connect(dsn) as connection:
        attempts = connection.execute(
            "SELECT max(attempts) FROM procrastinate_jobs WHERE queue_name = %s",
            (queue_of("c"),),
        ).fetchone()
    assert attempts is not None
    assert 2 <= attempts[0]


@pytest.mark.anyio
async def test_a_shards_providers_run_at_once(
    emus: Emulators,
    dsn: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """
    A shard's gateway row is sent while its a1.art row, earlier in the file, is still
    being polled: each provider's rows run at the same time, not one after another.
    """
    jobs = _write(tmp_path / "both.jsonl", [MIXED[0], MIXED[3]])
    status, _, err = await _run(
        emus, "batch", str(jobs), "--journal", dsn, "--batch", "t", "--workers", "1"
    )
    assert 0 == status, err
    sent = min(e.time for e in emus.gateway.journal if e.method == "POST")
    polled = max(e.time for e in emus.a1art.journal if e.endpoint == "tasks")
    assert sent < polled


@pytest.mark.anyio
async def test_run_worker_takes_the_other_providers_clients(
    emus: Emulators,
    dsn: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    ``run_worker(clients=...)`` from Python runs a mixed batch's akool and gateway rows
    through the clients it was given, and its a1.art rows through a client made from
    the options; each key's budget is the shared one, and each row is paid once.
    """
    jobs = _write(tmp_path / "mixed.jsonl", MIXED)
    queued, _, err = await _run(
        emus, "batch", str(jobs), "--journal", dsn, "--batch", "py", "--workers", "0"
    )
    assert 0 == queued, err
    monkeypatch.delenv("AKOOL_API_KEY")  # the clients below carry their keys
    transport = emus.transport()
    async with (
        akool.AsyncClient(
            api_key=AKOOL_KEY,
            base_url=emus.akool.api_origin,
            poll_policy=akool_policy(float(SCALE)),
            transport=transport,
        ) as akool_client,
        gateway.AsyncClient(
            api_key=GATEWAY_KEY,
            base_url=emus.gateway.api_origin,
            poll_policy=scaled_policy(float(SCALE)),
            transport=transport,
        ) as gateway_client,
    ):
        report = await run_worker(
            dsn,
            clients={"akool": akool_client, "gateway": gateway_client},
            batch="py",
            until_done=True,
            poll_interval=0.05,
            api_key=A1ART_KEY,
            poll_policy=scaled_policy(float(SCALE)),
            transport=transport,
        )
        budgets = [
            client._session.limiter.source  # type: ignore[attr-defined]
            for client in (akool_client, gateway_client)
        ]
    with psycopg.connect(dsn) as connection:
        hashed = {row[0] for row in connection.execute("SELECT key_hash FROM a1art_rates")}
    assert (6, 0, 0) == (report.done, report.failed, report.unknown)
    assert {"done"} == {state for _, state in _jobs(dsn, "py").values()}
    assert {"a1art": 1, "akool": 2, "gateway": 3} == emus.paid()
    assert {key_hash(key) for key in KEYS} == hashed
    # The clients' own budgets are theirs again once the worker is done.
    assert all(isinstance(source, LocalTokenSource) for source in budgets)


@pytest.mark.anyio
async def test_run_worker_refuses_a_client_of_an_unknown_provider(dsn: str) -> None:  # noqa: F811
    """
    A client under a name no provider has, or the a1.art client among the others, is
    refused before the worker connects.
    """
    with pytest.raises(ValidationError, match="unknown provider 'midjourney'"):
        await run_worker(dsn, clients={"midjourney": object()}, until_done=True)
    with pytest.raises(ValidationError, match="client="):
        await run_worker(dsn, clients={"a1art": object()}, until_done=True)
