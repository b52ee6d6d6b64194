"""
The API key under every fault at once, with DEBUG logging: it appears in no log line,
exception text, repr of a public object, batch journal file or line the CLI prints, and
the emulator's journal shows it reached the API origin only (never the file host, never
a redirect target).
"""

from __future__ import annotations

import io
import json
import logging
import traceback
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

import a1art_async as a1
from a1art_async._cli._app import run_parsed
from a1art_async._cli._args import parse
from a1art_async.testing import Emulator, apps, png_bytes

from . import _matrix

pytestmark = pytest.mark.anyio

KEY = "sk-a1-secret-7f3a9c5e1d"

#: Every knob at once: the matrix's "everything" cell (rates, Retry-After, 503 pages,
#: latency, republishing, failing, stuck and queued tasks, expiring results, a redirect
#: window, a window past the timeout) with oversized downloads on top.
EVERY_FAULT = attrs.evolve(
    _matrix.CELLS["everything"],
    name="every fault",
    knobs={**_matrix.CELLS["everything"].knobs, "oversized_download": True},
)


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
        if isinstance(current, BaseExceptionGroup):
            pending += list(current.exceptions)


def _error_texts(error: BaseException) -> list[str]:
    """
    Everything an error can show: its text, repr, full traceback with causes, and the
    reprs of its attributes, for it and every error in its chain.
    """
    texts = ["".join(traceback.format_exception(error))]
    for link in _chain(error):
        texts += [str(link), repr(link), repr(vars(link))]
    return texts


def _files(folder: Path) -> list[bytes]:
    return [path.read_bytes() for path in folder.rglob("*") if path.is_file()]


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


async def test_the_key_shows_nowhere_under_every_fault(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """
    The matrix workload under every fault at once, logging at DEBUG: no log record,
    exception text, public repr or journal file holds the key, and only the API origin
    received it.
    """
    caplog.set_level(logging.DEBUG)
    emulator = Emulator(api_key=KEY, balance=100_000, seed=4)
    run = await _matrix.run_cell(_matrix.InProcess(emulator), EVERY_FAULT, jobs=18, folder=tmp_path)
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    texts = [formatter.format(record) for record in caplog.records]
    for result in run.results:
        if result.error is not None:
            texts += _error_texts(result.error)
    for thing in run.objects:
        texts += [repr(thing), str(thing)]
    journal = a1.SQLiteJournal(tmp_path / "journal.sqlite")
    records = journal.load()
    journal.close()
    texts += [repr(record) for record in records.values()]
    seen = _matrix.figures(run).seen

    assert [] == [text for text in texts if KEY in text]
    assert [] == [blob[:80] for blob in _files(tmp_path) if KEY.encode() in blob]
    assert {"http_5xx", "rate_limited", "redirect", "dropped_after", "timeout"} <= set(seen)
    assert any(record.levelno == logging.DEBUG for record in caplog.records)
    assert len(records) > 0
    keyed = {entry.origin for entry in emulator.journal if entry.key is not None}
    assert {emulator.api_origin} == keyed
    origins = {entry.origin for entry in emulator.journal}
    assert {emulator.api_origin, emulator.cdn_origin} == origins


async def test_waits_tokens_and_streams_show_no_key(emulator_with_key: Emulator) -> None:
    """
    Handles, resume tokens, as_completed outcomes, tasks and the client's parts keep the
    key out of their reprs, also when polls fail.
    """
    emulator = emulator_with_key
    async with a1.AsyncClient(api_key=KEY, transport=emulator.transport()) as client:
        handles = [
            await client.generate(apps.NODE, image=png_bytes(9 + n, 9), prompt="robot")
            for n in range(3)
        ]
        emulator.faults.server_error_rate = 0.5
        emulator.faults.task_failure_rate = 1.0
        texts = [repr(client.apps), repr(client.images), repr(client.tasks), repr(client.http)]
        texts += [repr(client.retry), repr(client.poll_policy), repr(client._session.limiter)]
        texts += [handle.to_token() for handle in handles]
        async with client.tasks.as_completed(handles) as outcomes:
            async for outcome in outcomes:
                texts += [repr(outcome), repr(outcome.handle), repr(outcome.task)]
                if outcome.error is not None:
                    texts += _error_texts(outcome.error)
    assert [] == [text for text in texts if KEY in text]


@pytest.fixture
def emulator_with_key() -> Emulator:
    return Emulator(api_key=KEY, balance=1000, seed=5)


async def test_the_cli_never_prints_the_key(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """
    The ``a1art`` commands (apps show, upload, generate, enhance, task, batch), run with
    --verbose under every fault and then under a redirect, with the key from --api-key
    and from the environment: no output, log record or file holds the key, and only the
    API origin received it.
    """
    caplog.set_level(logging.DEBUG)
    emulator = Emulator(api_key=KEY, balance=100_000, seed=6)
    image = tmp_path / "pet.png"
    image.write_bytes(png_bytes(40, 30))
    jobs = tmp_path / "jobs.jsonl"
    rows = [{"app": apps.NODE, "key": f"n{n}", "image": "pet.png", "prompt": "x"} for n in range(4)]
    jobs.write_text("\n".join(json.dumps(row) for row in rows))
    commands = [
        ["apps", "show", apps.FORM],
        ["upload", str(image)],
        ["generate", apps.NODE, "--image", str(image), "--prompt", "x", "--out", str(tmp_path)],
        ["--json", "enhance", str(image)],
        ["task", "0" * 32],
        ["batch", str(jobs), "--out", str(tmp_path / "batch")],
    ]
    outputs: list[str] = []
    for knobs in (EVERY_FAULT.knobs, {"redirect_to": "https://elsewhere.example"}):
        emulator.faults.update({**_matrix.OFF, **knobs})
        for n, command in enumerate(commands):
            with pytest.MonkeyPatch.context() as patch:
                # Half the commands take the key from --api-key, half from the environment.
                if n % 2:
                    patch.setenv("A1ART_API_KEY", KEY)
                    argv = ["-v", *command]
                else:
                    patch.delenv("A1ART_API_KEY", raising=False)
                    argv = ["-v", "--api-key", KEY, *command]
                args, _ = parse(argv)
                out, err = io.StringIO(), io.StringIO()
                await run_parsed(args, stdout=out, stderr=err, transport=emulator.transport())
            outputs += [out.getvalue(), err.getvalue()]
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    outputs += [formatter.format(record) for record in caplog.records]
    assert [] == [text[:200] for text in outputs if KEY in text]
    assert [] == [blob[:80] for blob in _files(tmp_path) if KEY.encode() in blob]
    assert any("DEBUG" in text for text in outputs)
    keyed = {entry.origin for entry in emulator.journal if entry.key is not None}
    assert {emulator.api_origin} == keyed
    assert any(entry.outcome == "redirect" for entry in emulator.journal)
    assert {emulator.api_origin, emulator.cdn_origin} == {e.origin for e in emulator.journal}
