"""
The ``a1art`` commands in-process, against the in-process emulator in virtual time on
both backends: every variant of output, error and exit status that ``test_cli.py`` does
not spend a subprocess on.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest

from a1art_async import AsyncClient, MemoryJournal, RetryPolicy, SQLiteJournal
from a1art_async._cli._app import run_parsed
from a1art_async._cli._args import parse
from a1art_async._cli._exit import ExitCode
from a1art_async._cli._progress import Board, Phase, stderr_console
from a1art_async._cli._runner import RunJob, run_jobs
from a1art_async._engine import _logging as sdk_logging
from a1art_async.testing import Emulator, apps, png_bytes

KEY = "sk-inprocess-5b1e0c"


@pytest.fixture
def anyio_backend(virtual_backend: Any) -> Any:
    return virtual_backend


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(api_key=KEY, balance=1000, seed=7)


@pytest.fixture
def pet(tmp_path: Path) -> Path:
    path = tmp_path / "pet.png"
    path.write_bytes(png_bytes(320, 240))
    return path


@attrs.frozen
class Ran:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


async def a1art(emulator: Emulator, *argv: str) -> Ran:
    """
    Run one command line on the current event loop, wired to *emulator*.
    """
    args, _ = parse(["--api-key", KEY, *argv])
    out, err = io.StringIO(), io.StringIO()
    code = await run_parsed(args, stdout=out, stderr=err, transport=emulator.transport())
    ran = Ran(code, out.getvalue(), err.getvalue())
    assert KEY not in ran.stdout + ran.stderr
    return ran


@pytest.mark.anyio
async def test_apps_show_reads_like_the_app(emulator: Emulator) -> None:
    """
    ``apps show`` prints the forms, the prompt inputs with their tags, the styles, every
    size, the cost rule, the processing time and a ready-made generate command.
    """
    form = await a1art(emulator, "apps", "show", apps.FORM)
    video = await a1art(emulator, "apps", "show", apps.VIDEO)
    assert 0 == form.code
    for expected in (
        "Crazy Pet",
        "Photo of your pet",
        "description_1705463790428_variant1",
        "Obsidian_black, Porcelain_white",
        "3D Cartoon",
        "9:16",
        "1 credit per image",
        "about 22 s",
        "example: a1art generate 1803632078862147586 --image photo-of-your-pet.jpg",
    ):
        assert expected in form.stdout
    assert "10 credits per generation" in video.stdout
    assert "Sizes" not in video.stdout


@pytest.mark.anyio
async def test_api_errors_print_one_line_and_exit_3(emulator: Emulator) -> None:
    """
    An unknown app, an empty balance and a task of nobody each print one line with the
    code and both messages and exit 3; ``--json`` adds the error object on stdout.
    """
    unknown = await a1art(emulator, "apps", "show", "1234567890123456789")
    emulator.set_balance(KEY, 0)
    broke = await a1art(
        emulator, "generate", apps.TEXT, "--prompt", "hills", "--style", "Summer Meadow",
        "--aspect", "1:1", "--json",
    )  # fmt: skip
    nobody = await a1art(emulator, "task", "f" * 32, "--json")
    assert [ExitCode.API] * 3 == [unknown.code, broke.code, nobody.code]
    assert ["a1art: API error 324012: This app does not exist / 无效的应用ID"] == (
        unknown.stderr.splitlines()
    )
    assert "" == unknown.stdout
    assert 1 == len(broke.stderr.splitlines())
    assert broke.stderr.startswith("a1art: API error 810012: ")
    assert 810012 == broke.json()["error"]["code"]
    assert broke.json()["error"]["msg_cn"]
    assert 10001 == nobody.json()["error"]["code"]


@pytest.mark.anyio
async def test_input_the_sdk_refuses_is_a_usage_error(emulator: Emulator, pet: Path) -> None:
    """
    A missing file, a missing image and an unknown style exit 2 with a line naming the
    field and the choices, and nothing is uploaded or spent.
    """
    runs = [
        await a1art(emulator, "upload", str(pet.with_name("missing.png"))),
        await a1art(emulator, "generate", apps.FORM, "--prompt", "cat", "--aspect", "1:1"),
        await a1art(
            emulator, "generate", apps.FORM, "--image", str(pet), "--prompt", "cat",
            "--style", "Oil", "--aspect", "1:1",
        ),
    ]  # fmt: skip
    assert [ExitCode.USAGE] * 3 == [run.code for run in runs]
    assert all(1 == len(run.stderr.splitlines()) for run in runs)
    assert "no such file" in runs[0].stderr
    assert runs[1].stderr.startswith("a1art: --image: ")
    assert "needs an image (--image)" in runs[1].stderr
    assert runs[2].stderr.startswith("a1art: --style: unknown style 'Oil'")
    assert "'High Quality Anmie', 'Watercolor', '3D Cartoon'" in runs[2].stderr
    assert not any("image=" in run.stderr for run in runs)
    assert [] == [entry for entry in emulator.journal if entry.endpoint in ("upload", "generate")]


@pytest.mark.anyio
async def test_a_count_the_server_refuses_costs_nothing(emulator: Emulator, pet: Path) -> None:
    """
    Two results of a node app are the server's to refuse (324011, exit 3), not a guess
    of the CLI's; nothing is charged.
    """
    run = await a1art(
        emulator, "generate", apps.NODE, "--image", str(pet), "--prompt", "x", "--count", "2"
    )
    assert (ExitCode.API, 1) == (run.code, len(run.stderr.splitlines()))
    assert "324011" in run.stderr
    assert 0 == emulator.charged()


@pytest.mark.anyio
async def test_verbose_logs_each_request_once(
    emulator: Emulator,
    pet: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """
    ``-v`` writes each request's line once, on the command's stderr only: not again
    through httpx's logger, ``A1ART_LOG``'s handler or a handler on the root logger.
    """
    monkeypatch.setenv("A1ART_LOG", "debug")
    monkeypatch.setattr(sdk_logging, "_configured", False)
    root: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = root.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(handler)
    try:
        ran = await a1art(emulator, "-v", "upload", str(pet))
    finally:
        logging.getLogger().removeHandler(handler)
    assert 0 == ran.code, ran.stderr
    assert 1 == ran.stderr.count("/images/upload")
    assert "a1art_async DEBUG POST " in ran.stderr
    assert [] == [record.getMessage() for record in root if "upload" in record.getMessage()]
    assert "" == capsys.readouterr().err
    assert not sdk_logging.logger.handlers


@pytest.mark.anyio
async def test_task_looks_once_or_waits(emulator: Emulator, pet: Path) -> None:
    """
    ``task ID`` reports the state of one query; ``task ID --wait`` waits for the end and
    prints the result URLs; a failed task exits 5 either way.
    """
    submitted = await a1art(
        emulator, "generate", apps.FORM, "--image", str(pet), "--prompt", "cat",
        "--style", "Watercolor", "--aspect", "4:3", "--no-wait",
    )  # fmt: skip
    task_id = submitted.stdout.split()[1]
    early = await a1art(emulator, "task", task_id, "--json")
    waited = await a1art(emulator, "task", task_id, "--wait")
    emulator.faults.task_failure_rate = 1.0
    failing = await a1art(
        emulator, "generate", apps.NODE, "--image", str(pet), "--prompt", "x", "--no-wait", "--json"
    )
    failed_id = failing.json()["task_id"]
    await anyio.sleep(120)
    looked = await a1art(emulator, "task", failed_id)
    assert "resume:  a1art task '{" in submitted.stdout
    assert (0, "submitted") == (early.code, early.json()["task"]["state"])
    assert 0 == waited.code
    assert "completed" in waited.stdout
    assert 1 == waited.stdout.count("result   https://cdn.a1.art.emulator/results/")
    assert ExitCode.TASK_FAILED == looked.code
    assert "failed" in looked.stdout


@pytest.mark.anyio
async def test_waits_that_end_without_a_result(emulator: Emulator, pet: Path) -> None:
    """
    A task still running at ``--timeout`` exits 4 with the command that resumes it; a
    generate whose answer was lost exits 4 saying it may have been charged.
    """
    emulator.faults.task_stuck_rate = 1.0
    stuck = await a1art(
        emulator, "generate", apps.NODE, "--image", str(pet), "--prompt", "x", "--timeout", "90"
    )
    emulator.faults.task_stuck_rate = 0.0
    emulator.faults.drop_after_rate = 1.0
    emulator.faults.endpoints = frozenset({"generate"})
    lost = await a1art(emulator, "generate", apps.NODE, "--image", str(pet), "--prompt", "x")
    assert ExitCode.SERVICE == stuck.code
    assert "the task goes on; resume: a1art task '{" in stuck.stderr
    assert stuck.stderr.splitlines()[-1].endswith("not finished after waiting 90.0 s")
    assert ExitCode.SERVICE == lost.code
    assert 1 == len(lost.stderr.splitlines())
    assert "may have reached the server and spent credits" in lost.stderr
    assert "it was not resent" in lost.stderr


def _write_jobs(directory: Path, text: str, name: str = "jobs.jsonl") -> Path:
    (directory / "pet.png").write_bytes(png_bytes(256, 256))
    path = directory / name
    path.write_text(text)
    return path


@pytest.mark.anyio
async def test_job_file_mistakes_that_stop_the_whole_batch(
    emulator: Emulator, tmp_path: Path
) -> None:
    """
    Only what makes no row readable stops a batch before anything is spent, with status
    2: a missing file, an empty one, and a CSV header with an unknown column.
    """
    cases = {
        "empty.jsonl": "\n",
        "header.csv": f"app,promt\n{apps.TEXT},x\n",
    }
    runs = [
        await a1art(emulator, "batch", str(_write_jobs(tmp_path, text, name)))
        for name, text in cases.items()
    ]
    runs.append(await a1art(emulator, "batch", str(tmp_path / "missing.jsonl")))
    assert [ExitCode.USAGE] * 3 == [run.code for run in runs]
    assert "has no jobs" in runs[0].stderr
    assert "unknown column(s) promt" in runs[1].stderr
    assert "cannot read the jobs file" in runs[2].stderr
    assert [] == list(emulator.journal)


TEXT_JOB = {"app": apps.TEXT, "prompt": "hills", "style": "Summer Meadow", "aspect": "1:1"}


@pytest.mark.anyio
async def test_bad_jsonl_rows_fail_alone_and_the_others_run(
    emulator: Emulator, tmp_path: Path
) -> None:
    """
    In a JSONL file, each bad row (not JSON, no app, a bad count or field type, a missing
    image, an unknown app, a style the app lacks) fails naming its line and field, in the
    summary and the JSON, and exits 6; the good rows run; fixed rows run on the next run
    of the same command, and the rows that were done are not paid for again.
    """
    rows = [
        json.dumps({"key": "first", **TEXT_JOB}),
        "{oops",
        json.dumps({"key": "no-app", "prompt": "x"}),
        json.dumps({"key": "count", **TEXT_JOB, "count": "two"}),
        json.dumps({"key": "style-type", **TEXT_JOB, "style": ["Summer Meadow"]}),
        json.dumps({"key": "image", "app": apps.NODE, "image": "gone.png", "prompt": "ADA"}),
        json.dumps({"key": "unknown-app", **TEXT_JOB, "app": "1234567890123456789"}),
        json.dumps({"key": "style", **TEXT_JOB, "style": "Oil"}),
        json.dumps({"key": "last", "app": apps.NODE, "image": "pet.png", "prompt": "ADA"}),
    ]
    jobs = _write_jobs(tmp_path, "\n".join(rows) + "\n")
    first = await a1art(emulator, "batch", str(jobs), "--json")
    text = await a1art(emulator, "batch", str(jobs))
    body = first.json()
    by_line = {job["line"]: job for job in body["jobs"]}
    assert ExitCode.PARTIAL == first.code
    assert (9, 2, 7, 3) == (
        body["summary"]["jobs"],
        body["summary"]["done"],
        body["summary"]["failed"],
        body["summary"]["credits_spent"],
    )
    assert ["done", "done"] == [by_line[1]["state"], by_line[9]["state"]]
    expected = {
        2: "line 2: not JSON: ",
        3: "line 3: app: missing (the app id)",
        4: "line 4: count: must be an integer from 1 to 4, got 'two'",
        5: 'line 5: style: must be a string, got ["Summer Meadow"]',
        6: "line 6: image: no such file: 'gone.png'",
        7: "line 7: app 1234567890123456789: API error 324012: This app does not exist",
        8: "line 8: style: unknown style 'Oil'; choose one of 'Summer Meadow'",
    }
    for line, start in expected.items():
        assert ("failed", start) == (by_line[line]["state"], by_line[line]["error"][: len(start)])
    assert "a1art: line 4: count: must be an integer" in first.stderr
    assert ExitCode.PARTIAL == text.code
    assert "Failed jobs" in text.stdout
    assert "line 7: app 1234567890123456789: API error 324012" in text.stdout
    assert "2 jobs had ended in an earlier run" in text.stdout
    assert 2 == emulator.generate_calls()
    fixed = [rows[0], *(json.dumps({**TEXT_JOB, "prompt": f"row {n}"}) for n in range(7)), rows[8]]
    jobs.write_text("\n".join(fixed) + "\n")
    rerun = await a1art(emulator, "batch", str(jobs), "--json")
    assert ExitCode.OK == rerun.code, rerun.stderr
    summary = rerun.json()["summary"]
    assert (7, 0, 2) == (summary["done"], summary["failed"], summary["skipped"])
    assert 2 + 7 == emulator.generate_calls()


@pytest.mark.anyio
async def test_bad_csv_rows_fail_alone_and_the_others_run(
    emulator: Emulator, tmp_path: Path
) -> None:
    """
    In a CSV file, a bad count, a missing image, an unknown app, a row with too many
    cells and a key used twice each fail naming their line and column; the good rows
    run, and the batch exits 6.
    """
    text = (
        "app,key,image,images,prompt,style,aspect,count\n"
        f"{apps.TEXT},a,,,hills,Summer Meadow,1:1,1\n"
        f"{apps.TEXT},b,,,hills,Summer Meadow,1:1,many\n"
        f"{apps.GROUP_PHOTO},c,,pet.png;gone.png,,Polaroid,1:1,\n"
        f"1234567890123456789,d,,,hills,,,\n"
        f"{apps.TEXT},e,,,hills,Summer Meadow,1:1,1,extra\n"
        f"{apps.TEXT},a,,,dales,Summer Meadow,1:1,1\n"
        f"{apps.GROUP_PHOTO},f,,pet.png;pet.png,,Polaroid,3:4,\n"
        f"{apps.GROUP_PHOTO},g,pet.png,,,Polaroid,3:4,\n"
    )
    jobs = _write_jobs(tmp_path, text, "jobs.csv")
    ran = await a1art(emulator, "batch", str(jobs), "--json")
    body = ran.json()
    errors = {job["line"]: job["error"] for job in body["jobs"] if job["error"]}
    assert ExitCode.PARTIAL == ran.code
    assert (8, 2, 6) == (
        body["summary"]["jobs"],
        body["summary"]["done"],
        body["summary"]["failed"],
    )
    assert errors[3].startswith("line 3: count: must be an integer from 1 to 4, got 'many'")
    assert errors[4] == "line 4: images: no such file: 'gone.png'"
    assert errors[5].startswith("line 5: app 1234567890123456789: API error 324012")
    assert errors[6] == "line 6: more cells than columns"
    assert errors[7] == "line 7: key: 'a' is used by line 2 too"
    assert errors[9].startswith("line 9: images: this app places 2 images: pass images")
    assert 2 == emulator.generate_calls()


@pytest.mark.anyio
async def test_a_file_of_bad_rows_sends_nothing_and_the_estimate_skips_them(
    emulator: Emulator, tmp_path: Path
) -> None:
    """
    A file whose every row is bad exits 6 listing each, with no request sent; with one
    good row, ``--estimate`` names the bad ones, prices only the good one, and exits 6
    because those rows would fail.
    """
    bad = [json.dumps({"prompt": "no app"}), json.dumps({**TEXT_JOB, "count": 0})]
    all_bad = await a1art(emulator, "batch", str(_write_jobs(tmp_path, "\n".join(bad))), "--json")
    assert ExitCode.PARTIAL == all_bad.code
    assert (2, 0, 2) == tuple(all_bad.json()["summary"][k] for k in ("jobs", "done", "failed"))
    assert [] == list(emulator.journal)
    mixed = _write_jobs(tmp_path, "\n".join([*bad, json.dumps(TEXT_JOB)]), "mixed.jsonl")
    estimate = await a1art(emulator, "batch", str(mixed), "--estimate", "--json")
    assert ExitCode.PARTIAL == estimate.code
    assert (1, 1) == (estimate.json()["jobs"], estimate.json()["credits"])
    assert [1, 2] == [row["line"] for row in estimate.json()["failing_rows"]]
    assert "a1art: line 2: count: must be an integer from 1 to 4, got 0" in estimate.stderr
    assert 0 == emulator.generate_calls()


@pytest.mark.anyio
async def test_a_budgeted_csv_batch_resumes_with_a_larger_budget(
    emulator: Emulator, tmp_path: Path
) -> None:
    """
    Over budget a batch exits 6 and its estimate shows what is left; the rerun with more
    budget finishes, paying once per job.
    """
    rows = "".join(
        f"{apps.GROUP_PHOTO},,pet.png;pet.png,Polaroid,1:1\n{apps.FORM},,,Watercolor,16:9\n"
        for _ in range(3)
    )
    # The FORM rows have no image and no prompt: they fail as invalid, for free, and are
    # not journaled (fixed, they would run).
    jobs = _write_jobs(tmp_path, f"app,key,images,style,aspect\n{rows}", "jobs.csv")
    capped = await a1art(emulator, "batch", str(jobs), "--budget", "2", "--json")
    estimate = await a1art(emulator, "batch", str(jobs), "--estimate", "--json")
    short = await a1art(emulator, "batch", str(jobs), "--estimate", "--budget", "2", "--json")
    enough = await a1art(emulator, "batch", str(jobs), "--estimate", "--budget", "10")
    rest = await a1art(emulator, "batch", str(jobs), "--budget", "10", "--json")
    assert ExitCode.PARTIAL == capped.code
    assert (2, 4) == (capped.json()["summary"]["done"], capped.json()["summary"]["failed"])
    # Jobs stopped by the budget were never journaled: they are what is left to run.
    # Rows that cannot run (the invalid ones) are neither journaled nor estimated.
    assert (2, 1, 1) == (
        estimate.json()["ended"],
        estimate.json()["remaining_jobs"],
        estimate.json()["remaining_credits"],
    )
    # What earlier runs paid is told apart from what is left, and the budget is judged
    # as the run would reserve it: 2 paid + 1 left over a budget of 2.
    assert {"jobs": 2, "credits": 2} == estimate.json()["paid_before"]
    assert {"budget": 2, "suffices": False, "short_by": 1} == short.json()["budget"]
    assert "the budget of 10 suffices" in enough.stdout
    assert 3 == len(estimate.json()["failing_rows"])
    assert ExitCode.PARTIAL == rest.code  # the three invalid rows stay failed
    states = sorted(job["state"] for job in rest.json()["jobs"])
    assert ["done"] * 3 + ["failed"] * 3 == states
    assert 3 == emulator.generate_calls()


@pytest.mark.anyio
async def test_the_demo_in_process(tmp_path: Path) -> None:
    """
    ``demo`` needs no key: 24 jobs over four kinds of app, their files saved under
    ``--out``, a summary table by app, and status 0 despite the emulator's failures.
    """
    args, _ = parse(["demo", "--out", str(tmp_path / "demo")])
    out, err = io.StringIO(), io.StringIO()
    code = await run_parsed(args, stdout=out, stderr=err)
    text = out.getvalue()
    assert 0 == code, err.getvalue()
    for row in ("Crazy Pet", "Action Figure Doll", "Couple Photo Booth", "Ghibli Motion"):
        assert row in text
    for kind in ("form", "node", "group photo", "video"):
        assert kind in text
    assert 24 == err.getvalue().count("/24] ")
    saved = list((tmp_path / "demo").iterdir())
    assert f"{len(saved)} result files in {tmp_path / 'demo'}/" in text
    assert "run pip install -e '.[server]' in the project directory" in text
    assert any(path.suffix == ".mp4" for path in saved)


@pytest.mark.anyio
async def test_the_board_shows_every_phase(emulator: Emulator) -> None:
    """
    While a batch runs, the board counts jobs queued, submitted (waiting in the API's
    queue), running and done, without a request of its own; at the end all are done.
    """
    emulator.faults.task_concurrency = 2
    board = Board("test")
    seen: dict[Phase, int] = dict.fromkeys(Phase, 0)
    jobs = [
        RunJob(f"job-{n}", apps.TEXT, "text", {"prompt": f"hill {n}", "style": "Summer Meadow",
               "aspect": "1:1"})
        for n in range(6)
    ]  # fmt: skip
    async with emulator_client(emulator) as client, anyio.create_task_group() as group:

        async def sample() -> None:
            while True:
                for phase, count in board.counts().items():
                    seen[phase] = max(seen[phase], count)
                await anyio.sleep(0.5)

        group.start_soon(sample)
        result = await run_jobs(
            client,
            jobs,
            title="test",
            console=stderr_console(io.StringIO()),
            journal=SQLiteJournal(":memory:"),
            concurrency=1,
            board=board,
        )
        polls_with_board = sum(1 for entry in emulator.journal if entry.endpoint == "tasks")
        group.cancel_scope.cancel()
    assert all(seen[phase] > 0 for phase in (Phase.QUEUED, Phase.SUBMITTED, Phase.RUNNING))
    assert {Phase.DONE: 6} == {phase: n for phase, n in board.counts().items() if n}
    assert 6 == result.summary.done
    assert 6 == board.credits
    assert polls_with_board <= 6 * 8


def emulator_client(emulator: Emulator) -> AsyncClient:
    return AsyncClient(api_key=KEY, transport=emulator.transport())


@pytest.mark.anyio
async def test_the_spinner_follows_the_state_and_raises_the_waits_own_error(
    emulator: Emulator,
) -> None:
    """
    On a terminal a single task's wait shows its state as polls see it, returns the task,
    and a failed task raises ``TaskFailedError`` itself, not an exception group.
    """
    from rich.console import Console

    from a1art_async import PollPolicy, TaskFailedError
    from a1art_async._cli._progress import wait_with_status

    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=100)
    policy = PollPolicy(first_delay=5.0, hint_fraction=0.0, interval=2.0)
    options: dict[str, Any] = {"prompt": "hills", "style": "Summer Meadow", "aspect": "1:1"}
    async with AsyncClient(
        api_key=KEY, transport=emulator.transport(), poll_policy=policy
    ) as client:
        task = await wait_with_status(await client.generate(apps.TEXT, **options), console)
        emulator.faults.task_failure_rate = 1.0
        failing = await client.generate(apps.TEXT, **options)
        with pytest.raises(TaskFailedError):
            await wait_with_status(failing, console)
    assert "completed" == task.state.name.lower()
    assert f"task {task.task_id}: running" in stream.getvalue()


class _GoesDown(httpx.AsyncBaseTransport):
    """
    The emulator until its first task exists; then every connection is refused.
    """

    def __init__(self, emulator: Emulator) -> None:
        self.inner = emulator.transport()
        self.emulator = emulator
        self.down_since: float | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.emulator.generate_calls() >= 1:
            if self.down_since is None:
                self.down_since = anyio.current_time()
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return await self.inner.handle_async_request(request)


@pytest.mark.anyio
async def test_an_unreachable_api_shows_on_the_board_within_seconds(emulator: Emulator) -> None:
    """
    When the API stops answering mid-batch, progress says "retrying: could not connect"
    within seconds (not only when waits end), and the board shows it too.
    """
    stream = io.StringIO()
    board = Board("test")
    jobs = [
        RunJob(f"job-{n}", apps.TEXT, "text", {"prompt": f"hill {n}", "style": "Summer Meadow",
               "aspect": "1:1"})
        for n in range(3)
    ]  # fmt: skip
    transport = _GoesDown(emulator)
    client = AsyncClient(
        api_key=KEY, transport=transport, retry=RetryPolicy(max_retries=2, initial=0.5, cap=1.0)
    )
    shown_at: list[float] = []
    async with client, anyio.create_task_group() as group:

        async def watch() -> None:
            while "retrying: could not connect" not in stream.getvalue():  # noqa: ASYNC110
                await anyio.sleep(0.1)  # the console is a plain stream: no event to wait on
            assert transport.down_since is not None
            shown_at.append(anyio.current_time() - transport.down_since)

        group.start_soon(watch)
        await run_jobs(
            client,
            jobs,
            title="test",
            console=stderr_console(stream),
            journal=MemoryJournal(),
            concurrency=1,
            board=board,
        )
        group.cancel_scope.cancel()
    assert shown_at, stream.getvalue()
    assert shown_at[0] <= 3.0
