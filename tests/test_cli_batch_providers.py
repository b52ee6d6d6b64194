"""
``a1art batch`` with job files whose rows name a1.art, akool and gateway jobs, in
process against the three emulators in virtual time on both backends: one engine batch
(one journal, one budget, one board, one summary), each job through its own provider's
client.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import anyio
import pytest

from a1art_async._cli._exit import ExitCode
from a1art_async.testing import apps, png_bytes
from a1art_async.testing.gateway import models

from ._mixed import KEYS, Emulators, a1art, emulators, provider_environment


@pytest.fixture
def anyio_backend(virtual_backend: Any) -> Any:
    return virtual_backend


@pytest.fixture
def emus(monkeypatch: pytest.MonkeyPatch) -> Emulators:
    found = emulators()
    provider_environment(monkeypatch, found)
    return found


TEXT = {"app": apps.TEXT, "style": "Summer Meadow", "aspect": "1:1"}

#: One row of each kind: a1.art, an akool create and a press on it, gateway models that
#: answer with URLs, with inline bytes, and with a task to poll.
MIXED = [
    {"key": "hills", **TEXT, "prompt": "hills"},
    {"provider": "akool", "key": "sea", "prompt": "a calm sea", "scale": "3:2"},
    {"provider": "akool", "press": "sea", "button": "U2"},
    {"provider": "gateway", "key": "now", "model": models.SEEDREAM, "prompt": "a harbour"},
    {"provider": "gateway", "key": "inline", "model": models.GPT_IMAGE, "prompt": "a quay"},
    {"provider": "gateway", "key": "later", "model": models.WANX,
     "params": {"input": {"prompt": "a pier"}}},
    {"provider": "gateway", "model": models.FLUX, "prompt": "a lighthouse"},
    {"provider": "a1art", **TEXT, "prompt": "dales"},
]  # fmt: skip


def _write(directory: Path, rows: list[Any], name: str = "jobs.jsonl") -> Path:
    path = directory / name
    lines = (row if isinstance(row, str) else json.dumps(row) for row in rows)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def _journal(path: Path) -> dict[str, tuple[str, str | None]]:
    if not path.exists():
        return {}
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT key, state, task_id FROM jobs").fetchall()
    return {key: (state, task_id) for key, state, task_id in rows}


@pytest.mark.anyio
async def test_a_mixed_file_runs_every_row_through_its_own_api(
    emus: Emulators, tmp_path: Path
) -> None:
    """
    Every row of a file mixing a1.art, akool (a create and a press on it) and gateway
    rows (synchronous and asynchronous models) ends done in one journal, each paid for
    once through its own API, with its files saved, and no key sent to another API.
    """
    jobs = _write(tmp_path, MIXED)
    out = tmp_path / "out"
    ran = await a1art(emus, "batch", str(jobs), "--out", str(out), "--json")
    body = ran.json()
    assert ExitCode.OK == ran.code, ran.stderr
    states = {job["key"]: job["state"] for job in body["jobs"]}
    assert {"done"} == set(states.values())
    assert 8 == len(states)
    assert {"a1art": 2, "akool": 2, "gateway": 4} == emus.paid()
    keys = set(_journal(tmp_path / "jobs.jsonl.journal.sqlite"))
    assert keys == set(states)
    assert "sea-U2" in keys
    assert any(key.startswith("gateway-") for key in keys)
    assert any(key.startswith("job-") for key in keys)
    saved = sorted(out.iterdir())
    assert all(path.read_bytes()[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0") for path in saved)
    assert len(saved) == sum(len(job["files"]) for job in body["jobs"])
    groups = {job["key"]: job["group"] for job in body["jobs"]}
    assert ("akool create", "akool press", f"gateway {models.GPT_IMAGE}") == (
        groups["sea"],
        groups["sea-U2"],
        groups["inline"],
    )
    assert [] == emus.foreign_keys()


#: A bad row of each provider among good ones, and the line each bad row is named by.
WITH_BAD_ROWS = [
    {"key": "hills", **TEXT, "prompt": "hills"},
    {"key": "two", **TEXT, "prompt": "dales", "count": "two"},
    {"provider": "akool", "key": "sea", "prompt": "a calm sea"},
    {"provider": "akool", "key": "wide", "prompt": "a bay", "scale": "5:4"},
    {"provider": "akool", "press": "nowhere", "button": "U2"},
    {"provider": "gateway", "key": "now", "model": models.SEEDREAM, "prompt": "a harbour"},
    {"provider": "gateway", "key": "none", "model": models.FLUX, "prompt": "a quay",
     "params": {"n": 0}},
    {"provider": "gateway", "key": "odd", "model": models.FLUX, "size": "1024x1024"},
    {"provider": "midjourney", "key": "mj", "prompt": "a pier"},
    {"provider": "gateway", "key": "sea", "model": models.SEEDREAM, "prompt": "a key again"},
]  # fmt: skip
BAD_LINES = {
    "two": "line 2: count: must be an integer from 1 to 4, got 'two'",
    "wide": "line 4: scale: must be one of 1:1, 4:3, 3:4, 16:9, 9:16, 3:2, 2:3 (got '5:4')",
    "nowhere-U2": "line 5: press: no row of the file has the key 'nowhere'",
    "none": "line 7: params.n: must be a positive integer, got 0",
    "odd": "line 8: size: unknown field(s) of a gateway row; known: key, model, params, "
    "prompt, provider",
    "mj": "line 9: provider: unknown provider 'midjourney'; known: a1art, akool, gateway",
    "line-10": "line 10: key: 'sea' is used by line 3 too",
}


@pytest.mark.anyio
async def test_a_bad_row_of_each_provider_fails_alone_named_by_line_and_column(
    emus: Emulators, tmp_path: Path
) -> None:
    """
    A row each provider refuses (and one naming no known provider, and a key another
    provider's row has) fails alone, named by its line and the job file's column,
    unjournaled and unpaid, while the good row of each provider runs; the batch exits 6.
    """
    jobs = _write(tmp_path, WITH_BAD_ROWS)
    ran = await a1art(emus, "batch", str(jobs), "--json")
    body = ran.json()
    assert ExitCode.PARTIAL == ran.code
    errors = {job["key"]: job["error"] for job in body["jobs"] if job["state"] != "done"}
    assert BAD_LINES == errors
    done = sorted(job["key"] for job in body["jobs"] if job["state"] == "done")
    assert ["hills", "now", "sea"] == done
    assert {"a1art": 1, "akool": 1, "gateway": 1} == emus.paid()
    assert {"hills", "now", "sea"} == set(_journal(tmp_path / "jobs.jsonl.journal.sqlite"))
    providers = {job["key"]: job["provider"] for job in body["jobs"]}
    assert ("a1art", "akool", "akool", "gateway", "gateway") == (
        providers["two"],
        providers["wide"],
        providers["nowhere-U2"],
        providers["none"],
        providers["odd"],
    )
    for message in BAD_LINES.values():
        assert f"a1art: {message} (this row fails; the others run)" in ran.stderr
    estimate = await a1art(emus, "batch", str(jobs), "--estimate", "--json")
    failing = [row["error"] for row in estimate.json()["failing_rows"]]
    assert sorted(BAD_LINES.values(), key=lambda text: int(text.split()[1][:-1])) == failing


@pytest.mark.anyio
async def test_the_summary_counts_bad_rows_in_their_providers_groups(
    emus: Emulators, tmp_path: Path
) -> None:
    """
    The text summary counts a bad akool or gateway row as a failed job of its group
    (``akool create``, ``gateway MODEL``), with its provider as the group's kind.
    """
    jobs = _write(tmp_path, WITH_BAD_ROWS)
    ran = await a1art(emus, "batch", str(jobs))
    lines = {line.split("│")[0].strip(): line for line in ran.stdout.splitlines() if "│" in line}
    cells = {group: [cell.strip() for cell in line.split("│")] for group, line in lines.items()}
    assert ExitCode.PARTIAL == ran.code
    assert ["akool create", "akool", "2", "1", "1"] == cells["akool create"][:5]
    seedream = f"gateway {models.SEEDREAM}"
    assert [seedream, "gateway", "2", "1", "1"] == cells[seedream][:5]
    assert ["akool press", "akool", "1", "0", "1"] == cells["akool press"][:5]
    assert ["gateway flux-schnell", "gateway", "2", "0", "2"] == cells["gateway flux-schnell"][:5]
    assert "Failed jobs" in ran.stdout


@pytest.mark.anyio
async def test_estimate_prices_every_provider_after_an_earlier_run_and_checks_the_budget(
    emus: Emulators, tmp_path: Path
) -> None:
    """
    ``--estimate`` on a mixed file spends nothing and says, per provider, what the rows
    cost, what an earlier run of the journal paid, what is left, which rows would fail,
    and whether ``--budget`` covers what is left (exit 6 when it does not).
    """
    first = _write(tmp_path, [MIXED[0], MIXED[1], MIXED[3]])
    journal = tmp_path / "mixed.sqlite"
    ran = await a1art(emus, "batch", str(first), "--journal", str(journal), "--json")
    assert ExitCode.OK == ran.code, ran.stderr
    paid = emus.paid()
    whole = _write(tmp_path, [*MIXED, WITH_BAD_ROWS[3]], name="whole.jsonl")
    common = ("batch", str(whole), "--journal", str(journal), "--estimate", "--json")
    short = await a1art(emus, *common, "--budget", "8")
    enough = await a1art(emus, *common, "--budget", "100")
    body = short.json()
    assert paid == emus.paid()
    assert (ExitCode.PARTIAL, ExitCode.PARTIAL) == (short.code, enough.code)
    # The command's gateway client has no price table: 1 credit a generation.
    assert (8, 10) == (body["jobs"], body["credits"])
    assert {
        "a1art": {"jobs": 2, "credits": 2, "credits_low": 2},
        "akool": {"jobs": 2, "credits": 4, "credits_low": 4},
        "gateway": {"jobs": 4, "credits": 4, "credits_low": 4},
    } == body["providers"]
    assert ({"jobs": 3, "credits": 4}, 3) == (body["paid_before"], body["ended"])
    assert (5, 6) == (body["remaining_jobs"], body["remaining_credits"])
    assert [9] == [row["line"] for row in body["failing_rows"]]
    assert {"budget": 8, "suffices": False, "short_by": 2} == body["budget"]
    assert {"budget": 100, "suffices": True, "short_by": 0} == enough.json()["budget"]
    good = _write(tmp_path, MIXED, name="good.jsonl")
    text = await a1art(
        emus, "batch", str(good), "--journal", str(journal), "--estimate", "--budget", "10"
    )
    assert ExitCode.OK == text.code, text.stdout
    assert "by API (each its own credits): a1art 2 jobs, 2 credits; akool 2 jobs, 4" in text.stdout
    assert "earlier runs" in text.stdout
    assert "left to run: 5 jobs, 6 credits" in text.stdout
    assert "the budget of 10 suffices" in text.stdout


@pytest.mark.anyio
async def test_gateway_credits_price_gateway_rows(
    emus: Emulators, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    ``GATEWAY_CREDITS`` prices the gateway rows of a job file (a model it does not name
    costs 1), and ``--budget`` is judged against those prices.
    """
    monkeypatch.setenv("GATEWAY_CREDITS", f"{models.GPT_IMAGE}=5,{models.SEEDREAM}=2")
    jobs = _write(tmp_path, MIXED[3:7])
    ran = await a1art(emus, "batch", str(jobs), "--estimate", "--budget", "9", "--json")
    body = ran.json()
    assert {"gateway": {"jobs": 4, "credits": 9, "credits_low": 9}} == body["providers"]
    assert (ExitCode.OK, True) == (ran.code, body["budget"]["suffices"])
    assert {"a1art": 0, "akool": 0, "gateway": 0} == emus.paid()


#: Answered at once (the gateway's synchronous models) first, then one task of each API
#: to poll and a press on the akool image: with one job submitted at a time, every
#: answer is in before the tasks are submitted, and the tasks take seconds.
RESUMED = [
    {"provider": "gateway", "key": "inline", "model": models.GPT_IMAGE, "prompt": "a quay"},
    {"provider": "gateway", "key": "kept", "model": models.GPT_IMAGE, "prompt": "a dock"},
    {"provider": "gateway", "key": "now", "model": models.SEEDREAM, "prompt": "a harbour"},
    {"key": "hills", **TEXT, "prompt": "hills"},
    {"provider": "akool", "key": "sea", "prompt": "a calm sea", "scale": "3:2"},
    {"provider": "gateway", "key": "later", "model": models.WANX,
     "params": {"input": {"prompt": "a pier"}}},
    {"provider": "akool", "press": "sea", "button": "U2"},
]  # fmt: skip
POLLED = {"hills": "a1art", "sea": "akool", "later": "gateway"}


def _polled(emus: Emulators, task_id: str, since: float) -> set[str]:
    """
    The APIs that were asked about *task_id* after *since*.
    """
    found = set()
    for name in ("a1art", "akool", "gateway"):
        emulator = getattr(emus, name)
        for entry in emulator.journal:
            asked = entry.endpoint != "file" and task_id in entry.path + entry.query
            if entry.time > since and asked:
                found.add(name)
    return found


@pytest.mark.anyio
async def test_a_stopped_mixed_batch_resumes_through_each_api_paying_for_nothing_twice(
    emus: Emulators, tmp_path: Path
) -> None:
    """
    Stopped while a task of each API is on its way, the same command again skips what
    ended, polls each submitted task through its own API, saves what was answered (and
    the inline images an earlier run kept only in the journal), and pays only for the
    press that had not been sent.
    """
    jobs = _write(tmp_path, RESUMED)
    journal = tmp_path / "jobs.jsonl.journal.sqlite"
    command = ("batch", str(jobs), "--concurrency", "1")

    def submitted() -> bool:
        states = _journal(journal)
        return all(states.get(key, ("",))[0] == "submitted" for key in POLLED)

    async with anyio.create_task_group() as group:

        async def stop_when_submitted() -> None:
            while not submitted():  # noqa: ASYNC110 - the batch writes the journal
                await anyio.sleep(0.1)
            group.cancel_scope.cancel()

        group.start_soon(stop_when_submitted)
        await a1art(emus, *command)
        raise AssertionError("the first run ended before its tasks were submitted")
    stopped = emus.a1art.now()
    states = _journal(journal)
    paid = emus.paid()
    assert {"a1art": 1, "akool": 1, "gateway": 4} == paid
    assert {"done"} == {states[key][0] for key in ("inline", "kept", "now")}
    assert "sea-U2" not in states or "pending" == states["sea-U2"][0]
    with contextlib.closing(sqlite3.connect(journal)) as db, db:
        # As if the run had stopped after journaling the answer, before saving it.
        db.execute("UPDATE jobs SET state = 'answered' WHERE key = 'inline'")

    out = tmp_path / "out"
    ran = await a1art(emus, *command, "--out", str(out), "--json")
    body = ran.json()
    assert ExitCode.OK == ran.code, ran.stderr
    assert {"done"} == {job["state"] for job in body["jobs"]}
    assert {"a1art": 1, "akool": 2, "gateway": 4} == emus.paid()
    assert 2 == body["summary"]["skipped"]
    for key, api in POLLED.items():
        task_id = states[key][1]
        assert task_id is not None
        assert {api} == _polled(emus, task_id, stopped)
    files = {job["key"]: job["files"] for job in body["jobs"]}
    assert [str(out / "inline-0.png")] == files["inline"]
    assert [str(out / "kept-0.png")] == files["kept"]
    assert (out / "kept-0.png").read_bytes().startswith(b"\x89PNG")
    assert files["now"][0].startswith("https://")  # ended before: not downloaded now
    assert {"inline-0.png", "kept-0.png"} <= {path.name for path in out.iterdir()}
    assert [] == emus.foreign_keys()


@pytest.mark.anyio
async def test_an_inline_image_is_shown_by_its_size_never_as_its_data(
    emus: Emulators, tmp_path: Path
) -> None:
    """
    Without ``--out``, an image a gateway answered with inline is printed as ``inline
    image (N bytes)`` (progress, summary and JSON, in the run and from the journal),
    never as its ``data:`` URL or base64 text.
    """
    jobs = _write(tmp_path, [MIXED[4]])
    first = await a1art(emus, "batch", str(jobs))
    again = await a1art(emus, "batch", str(jobs), "--json")
    assert (ExitCode.OK, ExitCode.OK) == (first.code, again.code)
    shown = again.json()["jobs"][0]["files"]
    assert 1 == len(shown)
    assert re.fullmatch(r"inline image \(\d+ bytes\)", shown[0])
    assert 0 < int(shown[0].split("(")[1].split()[0])
    assert shown[0] in first.stderr
    for ran in (first, again):
        assert "data:" not in ran.stdout + ran.stderr
        assert "base64" not in ran.stdout + ran.stderr


@pytest.mark.anyio
async def test_a_csv_file_with_a_provider_column_runs_every_providers_rows(
    emus: Emulators, tmp_path: Path
) -> None:
    """
    A CSV file with a ``provider`` column takes every provider's columns (each row
    filling its own, ``params`` as a JSON object in one cell); a row that fills another
    provider's column fails alone, named by that column.
    """
    jobs = tmp_path / "jobs.csv"
    jobs.write_text(
        "provider,key,app,style,aspect,prompt,scale,press,button,model,params\n"
        f",hills,{apps.TEXT},Summer Meadow,1:1,hills,,,,,\n"
        "akool,sea,,,,a calm sea,3:2,,,,\n"
        "akool,,,,,,,sea,U2,,\n"
        f'gateway,later,,,,,,,,{models.WANX},"{{""input"": {{""prompt"": ""a pier""}}}}"\n'
        f"gateway,odd,,,,a quay,3:2,,,{models.FLUX},\n"
    )
    ran = await a1art(emus, "batch", str(jobs), "--json")
    states = {job["key"]: job["state"] for job in ran.json()["jobs"]}
    errors = [job["error"] for job in ran.json()["jobs"] if job["error"]]
    assert ExitCode.PARTIAL == ran.code
    assert {"hills": "done", "sea": "done", "sea-U2": "done", "later": "done"} == {
        key: state for key, state in states.items() if key != "odd"
    }
    assert [
        "line 6: scale: unknown field(s) of a gateway row; known: key, model, params, "
        "prompt, provider"
    ] == errors
    assert {"a1art": 1, "akool": 2, "gateway": 1} == emus.paid()


@pytest.mark.anyio
async def test_a_csv_file_without_a_provider_column_takes_a1art_columns_only(
    emus: Emulators, tmp_path: Path
) -> None:
    """
    Without a ``provider`` column a CSV file is a1.art's: another provider's column stops
    the whole batch (status 2) before anything is sent.
    """
    jobs = tmp_path / "jobs.csv"
    jobs.write_text(f"app,prompt,model\n{apps.TEXT},hills,{models.FLUX}\n")
    ran = await a1art(emus, "batch", str(jobs), "--json")
    assert ExitCode.USAGE == ran.code
    assert "unknown column(s) model" in ran.json()["error"]["message"]
    assert {"a1art": 0, "akool": 0, "gateway": 0} == emus.paid()


@pytest.mark.anyio
async def test_a_run_opens_only_the_clients_its_rows_need(
    emus: Emulators, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    A file of gateway rows runs with no a1.art or akool key; a file with akool rows and
    no akool key stops with status 2, naming the key and the first row that needs it,
    before any API is asked anything.
    """
    monkeypatch.delenv("AKOOL_API_KEY")
    only_gateway = _write(tmp_path, [MIXED[3]], name="gateway.jsonl")
    ran = await a1art(emus, "batch", str(only_gateway), "--json", key=False)
    assert ExitCode.OK == ran.code, ran.stderr
    assert ([], []) == (emus.a1art.journal, emus.akool.journal)
    mixed = _write(tmp_path, MIXED)
    refused = await a1art(emus, "batch", str(mixed), "--json")
    message = refused.json()["error"]["message"]
    assert ExitCode.USAGE == refused.code
    assert "set AKOOL_API_KEY (needed by the akool rows (the first on line 2))" in message
    assert ([], []) == (emus.a1art.journal, emus.akool.journal)
    assert 1 == len(emus.gateway.journal)


README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.mark.anyio
@pytest.mark.parametrize(("kind", "rows"), [("jsonl", 8), ("csv", 4)])
async def test_the_readmes_job_files_check_without_a_failing_row(
    emus: Emulators, tmp_path: Path, kind: str, rows: int
) -> None:
    """
    The README's example job files (JSONL and CSV, rows of every provider) pass
    ``--estimate`` with every row able to run.
    """
    section = README.read_text().split("### Job files", 1)[1]
    example = re.search(rf"```{kind}\n(.*?)```", section, re.S)
    assert example is not None
    for image in ("rex.jpg", "left.jpg", "right.jpg", "meadow.png"):
        (tmp_path / image).write_bytes(png_bytes(256, 256))
    jobs = tmp_path / f"jobs.{kind}"
    jobs.write_text(example[1])
    ran = await a1art(emus, "batch", str(jobs), "--estimate", "--json")
    body = ran.json()
    assert ExitCode.OK == ran.code, body["failing_rows"]
    assert (rows, []) == (body["jobs"], body["failing_rows"])
    assert {"a1art", "akool", "gateway"} == set(body["providers"])


@pytest.mark.anyio
async def test_no_key_leaves_its_own_api_in_a_mixed_run(emus: Emulators, tmp_path: Path) -> None:
    """
    With debug logs on, no API key appears in what a mixed run prints, in its journal or
    in its saved files; none is sent to a file host or to another API.
    """
    jobs = _write(tmp_path, MIXED)
    out = tmp_path / "out"
    ran = await a1art(emus, "-v", "batch", str(jobs), "--out", str(out))  # checks the output
    assert ExitCode.OK == ran.code, ran.stderr
    assert "a1art_async DEBUG" in ran.stderr
    written = [tmp_path / "jobs.jsonl.journal.sqlite", *out.iterdir()]
    assert [] == [
        path.name for path in written for key in KEYS if key.encode() in path.read_bytes()
    ]
    downloads = [
        entry
        for emulator in (emus.a1art, emus.akool, emus.gateway)
        for entry in emulator.journal
        if entry.endpoint == "file"
    ]
    assert 0 < len(downloads)
    assert [] == [entry.origin for entry in downloads if entry.key is not None]
    assert [] == emus.foreign_keys()


@pytest.mark.anyio
async def test_one_budget_caps_every_providers_jobs_and_a_larger_one_resumes(
    emus: Emulators, tmp_path: Path
) -> None:
    """
    ``--budget`` counts every provider's credits together: the jobs past it fail unpaid
    (exit 6), and the same command with a larger budget runs only those, paying for no
    job twice.
    """
    jobs = _write(tmp_path, MIXED)
    # One job at a time, in file order: hills (1), sea (2), now (1), inline (1) fit.
    capped = await a1art(emus, "batch", str(jobs), "--budget", "5", "--concurrency", "1", "--json")
    body = capped.json()
    failed = {job["key"]: job["error"] for job in body["jobs"] if job["state"] != "done"}
    done = [job["key"] for job in body["jobs"] if job["state"] == "done"]
    assert ExitCode.PARTIAL == capped.code
    assert (5, ["hills", "sea", "now", "inline"]) == (body["summary"]["credits_spent"], done)
    assert 4 == len(failed)
    assert all("the budget of 5" in error for error in failed.values()), failed
    assert {"a1art": 1, "akool": 1, "gateway": 2} == emus.paid()
    resumed = await a1art(emus, "batch", str(jobs), "--budget", "100", "--json")
    assert ExitCode.OK == resumed.code, resumed.stderr
    assert len(done) == resumed.json()["summary"]["skipped"]
    assert {"a1art": 2, "akool": 2, "gateway": 4} == emus.paid()
