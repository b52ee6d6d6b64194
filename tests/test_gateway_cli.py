"""
The command line for the gateway: ``a1art gateway generate`` and ``a1art gateway task``
against the emulator in process, with the command line's output conventions and exit
statuses, and the batch rows of the gateway.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest

from a1art_async import JobState, gateway
from a1art_async._cli._app import run_context, run_parsed
from a1art_async._cli._args import parse
from a1art_async._cli._context import Context
from a1art_async._cli._exit import ExitCode, describe, error_json, exit_code
from a1art_async._cli._interrupt import Interrupts, resume_command
from a1art_async.gateway._cli import batch_job
from a1art_async.testing.gateway import Emulator, models


def test_gateway_api_errors_exit_as_api_errors() -> None:
    """
    A gateway API error exits with status 3 and reads as one line with its code and
    message, as an a1.art one does.
    """
    error = gateway.InvalidParamsError("400", "Invalid request parameters", status=400)
    assert ExitCode.API == exit_code(error)
    assert "API error 400: Invalid request parameters" == describe(error)
    assert {"code": "400", "msg": "Invalid request parameters"} == {
        key: value for key, value in error_json(error).items() if key in ("code", "msg", "msg_cn")
    }


class _Handle:
    """
    A job handle as an interrupt sees it.
    """

    def __init__(self, done: bool) -> None:
        self.task_id = "t-1"
        self.done = done

    def to_token(self) -> str:
        return '{"v":1,"api":"gateway","task_id":"t-1"}'


def test_the_resume_command_names_the_apis_task_command() -> None:
    """
    The command that resumes a wait is the command's own API's ``task`` command.
    """
    args = argparse.Namespace(
        base_url="http://127.0.0.1:9",
        region="global",
        time_scale=None,
        out="out",
        task_command=("gateway", "task"),
    )
    a1art = argparse.Namespace(base_url=None, region="global", time_scale=None, out=None)
    assert (
        "a1art --base-url http://127.0.0.1:9 gateway task "
        '\'{"v":1,"api":"gateway","task_id":"t-1"}\' --wait --out out'
    ) == resume_command(args, _Handle(False))
    assert resume_command(a1art, _Handle(False)).startswith("a1art task ")


@pytest.mark.anyio
@pytest.mark.parametrize("done", [False, True])
async def test_an_answer_that_is_the_result_has_no_task_to_name(done: bool) -> None:
    """
    After a submission, an interrupt names the task to resume, unless the answer was
    the result itself (a synchronous model): then there is nothing to resume.
    """
    interrupts = Interrupts()
    handle = _Handle(done)

    async def send() -> _Handle:
        return handle

    returned = await interrupts.submit(
        send, credits=None, listening=lambda _: contextlib.nullcontext()
    )
    assert returned is handle
    assert (None if done else handle) is interrupts.task


KEY = "sk-gateway-cli-7f3a"


@attrs.frozen
class Ran:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(KEY, seed=11)


async def a1art(emulator: Emulator, *argv: str, interrupt_at: float | None = None) -> Ran:
    """
    Run one command line on the current event loop, wired to *emulator*; Ctrl-C at
    *interrupt_at* seconds when given.
    """
    args, _ = parse(["--api-key", KEY, "--base-url", emulator.api_origin, *argv])
    out, err = io.StringIO(), io.StringIO()
    ctx = Context(args, stdout=out, stderr=err, transport=emulator.transport())
    code = 0
    async with anyio.create_task_group() as group:
        if interrupt_at is not None:

            async def interrupt() -> None:
                await anyio.sleep(interrupt_at)
                ctx.interrupts.interrupt()

            group.start_soon(interrupt)
        code = await run_context(ctx)
        group.cancel_scope.cancel()
    ran = Ran(code, out.getvalue(), err.getvalue())
    assert KEY not in ran.stdout + ran.stderr
    return ran


class TestCommands:
    """
    ``a1art gateway generate`` and ``a1art gateway task`` in process, in virtual time.
    """

    @pytest.fixture
    def anyio_backend(self, virtual_backend: object) -> object:
        return virtual_backend

    @pytest.mark.anyio
    async def test_a_synchronous_model_prints_its_images_at_once(self, emulator: Emulator) -> None:
        """
        A synchronous model's images are printed when the answer arrives; ``--json``
        says it was synchronous and what it cost.
        """
        text = await a1art(
            emulator,
            "gateway",
            "generate",
            "--model",
            models.DALL_E,
            "--prompt",
            "a lighthouse",
            "--param",
            "n=2",
        )
        document = await a1art(
            emulator,
            "gateway",
            "generate",
            "--model",
            models.SEEDREAM,
            "--prompt",
            "a lighthouse",
            "--json",
        )
        assert (0, 0) == (text.code, document.code)
        assert 2 == text.stdout.count(f"result   {emulator.files_origin}/results/")
        body = document.json()
        assert (True, "succeeded", 1) == (body["synchronous"], body["status"], body["credits"])
        assert [False] == [image["inline"] for image in body["images"]]
        assert [] == [entry for entry in emulator.journal if entry.endpoint == "tasks"]

    @pytest.mark.anyio
    async def test_inline_images_are_saved_even_without_out(
        self, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """
        Images that came as bytes have no URL to print: without ``--out`` they are
        saved in the current directory, with ``--out`` there.
        """
        monkeypatch.chdir(tmp_path)
        here = await a1art(
            emulator, "gateway", "generate", "--model", models.GPT_IMAGE, "--prompt", "x"
        )
        there = await a1art(
            emulator,
            "gateway",
            "generate",
            "--model",
            models.JIMENG,
            "--prompt",
            "y",
            "--out",
            "out",
            "--json",
        )
        saved = sorted(path.name for path in tmp_path.glob("sync-*.png"))
        assert (0, 0, 1) == (here.code, there.code, len(saved))
        assert f"saved    {saved[0]}" in here.stdout
        files = [Path(path) for path in there.json()["files"]]
        assert [b"\x89PNG"] == [(tmp_path / path).read_bytes()[:4] for path in files]
        assert "out" == files[0].parent.name

    @pytest.mark.anyio
    async def test_a_task_is_waited_for_and_saved(self, emulator: Emulator, tmp_path: Path) -> None:
        """
        An asynchronous model's task is waited for, then its images are saved.
        """
        ran = await a1art(
            emulator,
            "gateway",
            "generate",
            "--model",
            models.WANX,
            "--param",
            'input={"prompt": "x"}',
            "--out",
            str(tmp_path),
            "--json",
        )
        body = ran.json()
        assert (0, False, "succeeded", "SUCCEEDED") == (
            ran.code,
            body["synchronous"],
            body["status"],
            body["state"],
        )
        assert [f"{body['task_id']}-0.png"] == [Path(path).name for path in body["files"]]
        assert f"waiting for task {body['task_id']}" in ran.stderr

    @pytest.mark.anyio
    async def test_no_wait_then_task_resumes_by_token(self, emulator: Emulator) -> None:
        """
        ``--no-wait`` prints the task's token and the command that resumes it; ``task``
        queries it once, or waits with ``--wait``.
        """
        submitted = await a1art(
            emulator,
            "gateway",
            "generate",
            "--model",
            models.KOLORS,
            "--prompt",
            "x",
            "--no-wait",
            "--json",
        )
        token = submitted.json()["token"]
        assert f"gateway task {shlex.quote(token)} --wait" in submitted.json()["resume"]
        once = await a1art(emulator, "gateway", "task", token)
        waited = await a1art(emulator, "gateway", "task", token, "--wait", "--json")
        by_id = await a1art(emulator, "gateway", "task", submitted.json()["task_id"], "--json")
        assert (0, 0, 0) == (once.code, waited.code, by_id.code)
        assert re.search(r"state\s+│ queued \(SUBMITTED\)", once.stdout)
        assert ("succeeded", 1) == (waited.json()["status"], len(waited.json()["images"]))
        assert "succeeded" == by_id.json()["status"]

    @pytest.mark.anyio
    async def test_errors_exit_with_their_statuses(self, emulator: Emulator) -> None:
        """
        An API error exits 3, a failed task 5, a generation whose outcome is unknown 4,
        input refused before sending 2; each is one line.
        """
        refused = await a1art(emulator, "gateway", "generate", "--model", "nope", "--prompt", "x")
        emulator.faults.task_failure_rate = 1.0
        failed = await a1art(
            emulator, "gateway", "generate", "--model", models.FLUX, "--prompt", "x"
        )
        emulator.faults.sync_latency = 1000.0
        unknown = await a1art(
            emulator,
            "gateway",
            "generate",
            "--model",
            models.SEEDREAM,
            "--prompt",
            "x",
            "--sync-timeout",
            "60",
        )
        blank = await a1art(
            emulator, "gateway", "generate", "--model", models.FLUX, "--prompt", " "
        )
        not_json = await a1art(
            emulator, "gateway", "generate", "--model", " ", "--param", "seed=NaN"
        )
        nan = await a1art(
            emulator, "gateway", "generate", "--model", models.FLUX, "--param", "seed=NaN"
        )
        twice = await a1art(
            emulator,
            "gateway",
            "generate",
            "--model",
            models.FLUX,
            "--prompt",
            "x",
            "--param",
            "prompt=y",
        )
        assert [3, 5, 4, 2, 2, 2, 2] == [
            r.code for r in (refused, failed, unknown, blank, not_json, nan, twice)
        ]
        assert "a1art: --model: must be a non-empty string" in not_json.stderr
        assert "a1art: --param seed: must be JSON" in nan.stderr
        assert "a1art: API error 400: Invalid request parameters\n" == refused.stderr
        assert "failed: the service says failed: generation_failed" in failed.stderr
        assert re.search(r"state\s+│ failed\s", failed.stdout)
        assert "may have reached the server" in unknown.stderr
        assert "a1art: --prompt: must be a non-empty string" in blank.stderr
        assert "--param prompt: given twice" in twice.stderr

    @pytest.mark.anyio
    async def test_no_gateway_no_command(
        self, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """
        Without ``--base-url`` or ``GATEWAY_BASE_URL`` the command stops before
        sending, with status 2.
        """
        monkeypatch.delenv("GATEWAY_BASE_URL", raising=False)
        args, _ = parse(["--api-key", KEY, "gateway", "generate", "--model", "m", "--prompt", "x"])
        err = io.StringIO()
        code = await run_parsed(
            args, stdout=io.StringIO(), stderr=err, transport=emulator.transport()
        )
        assert (2, []) == (code, emulator.journal)
        assert "GATEWAY_BASE_URL" in err.getvalue()

    @pytest.mark.anyio
    async def test_ctrl_c_during_a_synchronous_generation_keeps_its_images(
        self, emulator: Emulator, tmp_path: Path
    ) -> None:
        """
        Ctrl-C while a synchronous model works waits for its answer, saves and prints
        the images it paid for, then stops with status 130.
        """
        ran = await a1art(
            emulator,
            "gateway",
            "generate",
            "--model",
            models.GPT_IMAGE,
            "--prompt",
            "x",
            "--out",
            str(tmp_path),
            interrupt_at=1.0,
        )
        assert 130 == ran.code
        assert 1 == len(list(tmp_path.glob("sync-*.png")))
        assert "saved    " in ran.stdout
        assert "a1art: interrupted\n" == ran.stderr

    @pytest.mark.anyio
    async def test_ctrl_c_after_a_synchronous_answer_prints_one_json_document(
        self, emulator: Emulator, tmp_path: Path
    ) -> None:
        """
        With ``--json``, Ctrl-C while a synchronous model works leaves exactly one
        document on stdout, the result with its saved files, and says it was
        interrupted on stderr.
        """
        ran = await a1art(
            emulator,
            "--json",
            "gateway",
            "generate",
            "--model",
            models.GPT_IMAGE,
            "--prompt",
            "x",
            "--out",
            str(tmp_path),
            interrupt_at=1.0,
        )
        body = ran.json()  # one document, or this raises
        assert (130, "succeeded") == (ran.code, body["status"])
        assert [path.name for path in tmp_path.glob("sync-*.png")] == [
            Path(path).name for path in body["files"]
        ]
        assert "a1art: interrupted\n" == ran.stderr

    @pytest.mark.anyio
    async def test_a_failed_task_prints_one_json_document(self, emulator: Emulator) -> None:
        """
        With ``--json``, a task that ends failed prints one document, its error in it,
        and exits 5 with the failure on stderr.
        """
        emulator.faults.task_failure_rate = 1.0
        ran = await a1art(
            emulator,
            "--json",
            "gateway",
            "generate",
            "--model",
            models.WANX,
            "--param",
            'input={"prompt": "x"}',
        )
        body = ran.json()  # one document, or this raises
        assert (5, "failed") == (ran.code, body["status"])
        assert {"code", "message"} == set(body["error"])
        assert f"a1art: task {body['task_id']} failed" in ran.stderr

    @pytest.mark.anyio
    async def test_gateway_credits_price_the_models(
        self, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """
        ``GATEWAY_CREDITS`` prices a model's generation; a model it does not name costs 1.
        """
        monkeypatch.setenv("GATEWAY_CREDITS", f" {models.WANX}=3 , other-model=0")
        named = await a1art(
            emulator, "gateway", "generate", "--model", models.WANX,
            "--param", 'input={"prompt": "x"}', "--no-wait", "--json",
        )  # fmt: skip
        other = await a1art(
            emulator, "gateway", "generate", "--model", models.WAN_PLUS,
            "--param", 'input={"prompt": "x"}', "--no-wait", "--json",
        )  # fmt: skip
        assert (3, 1) == (named.json()["credits"], other.json()["credits"])

    @pytest.mark.anyio
    @pytest.mark.parametrize("table", ["gpt=two", "=2", "gpt=-1", "gpt"])
    async def test_a_malformed_credit_table_is_refused_before_sending(
        self, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, table: str
    ) -> None:
        """
        A ``GATEWAY_CREDITS`` pair that is not MODEL=N stops the command with status 2,
        naming the variable, before any request.
        """
        monkeypatch.setenv("GATEWAY_CREDITS", f"{models.WANX}=2,{table}")
        ran = await a1art(emulator, "gateway", "generate", "--model", models.FLUX, "--prompt", "x")
        assert (2, []) == (ran.code, emulator.journal)
        assert f"a1art: GATEWAY_CREDITS: {table!r} is not MODEL=N" in ran.stderr

    @pytest.mark.anyio
    async def test_ctrl_c_while_waiting_names_the_gateway_task(self, emulator: Emulator) -> None:
        """
        Ctrl-C while a task runs names it and the ``gateway task`` command that resumes
        the wait.
        """
        ran = await a1art(
            emulator,
            "gateway",
            "generate",
            "--model",
            models.WAN_PLUS,
            "--param",
            'input={"prompt": "x"}',
            interrupt_at=3.0,
        )
        assert 130 == ran.code
        task_id = emulator.journal[0].task_id
        # Without GATEWAY_CREDITS every model is priced at 1.
        assert f"a1art: interrupted; task {task_id} goes on, 1 credits" in ran.stderr
        assert f"--base-url {emulator.api_origin} gateway task" in ran.stderr


class TestBatchRows:
    """
    Job-file rows with ``"provider": "gateway"`` as engine batch jobs.
    """

    @pytest.fixture
    def anyio_backend(self, virtual_backend: object) -> object:
        return virtual_backend

    @pytest.mark.anyio
    async def test_rows_of_both_kinds_run_in_one_batch(
        self, emulator: Emulator, tmp_path: Path
    ) -> None:
        """
        Rows for synchronous and asynchronous models run as one journaled batch, each
        priced from the client's credit table and paid once.
        """
        rows = [
            {"provider": "gateway", "key": "a", "model": models.GPT_IMAGE, "prompt": "x"},
            {"provider": "gateway", "model": models.WANX, "params": {"input": {"prompt": "y"}}},
            {
                "provider": "gateway",
                "key": "c",
                "model": models.FLUX,
                "prompt": "z",
                "params": {"n": 2},
            },
        ]
        async with gateway.AsyncClient(
            api_key=KEY,
            base_url=emulator.api_origin,
            transport=emulator.transport(),
            credits=emulator.prices(),
        ) as client:
            jobs = [batch_job(client, row, tmp_path) for row in rows]
            estimates = [await job.check() for job in jobs]
            async with client.batch(journal=tmp_path / "j.sqlite", download_to=tmp_path) as batch:
                for job in jobs:
                    batch.add_job(job)
                outcomes = {outcome.key: outcome async for outcome in batch}
        assert [2, 1, 1] == [estimate.credits for estimate in estimates]
        assert jobs[1].key.startswith("gateway-")  # derived from what the row asks for
        assert {"a": 1, jobs[1].key: 1, "c": 2} == {
            key: len(outcome.files) for key, outcome in outcomes.items()
        }
        assert {JobState.DONE} == {outcome.state for outcome in outcomes.values()}
        assert (3, 4) == (emulator.generation_calls(), emulator.charged())

    @pytest.mark.parametrize(
        ("row", "field"),
        [
            ({"provider": "a1art", "model": "m"}, "provider"),
            ({"provider": "gateway", "model": "m", "style": "x"}, "style"),
            ({"provider": "gateway"}, "model"),
            ({"provider": "gateway", "model": "m", "params": [1]}, "params"),
            (
                {"provider": "gateway", "model": "m", "prompt": "x", "params": {"prompt": "y"}},
                "prompt",
            ),
            ({"provider": "gateway", "model": "m", "prompt": 3}, "prompt"),
            ({"provider": "gateway", "model": "m", "key": ""}, "key"),
            ({"provider": "gateway", "model": "m", "params": {"seed": float("inf")}}, "seed"),
        ],
    )
    def test_a_row_that_cannot_run_names_its_column(
        self, row: dict[str, Any], field: str, tmp_path: Path
    ) -> None:
        """
        A bad row raises ``ValidationError`` naming the column at fault.
        """
        client = gateway.AsyncClient(api_key=KEY, base_url="https://gw.example")
        with pytest.raises(gateway.ValidationError) as refused:
            batch_job(client, row, tmp_path)
        assert field == refused.value.field


def test_the_emulator_command_serves_the_gateway() -> None:
    """
    ``a1art emulator serve --api gateway`` serves the gateway's emulator: its banner, and
    a generation over real HTTP; ``--api`` names only the emulators there are.
    """
    command = [
        sys.executable,
        "-m",
        "a1art_async",
        "emulator",
        "serve",
        "--api",
        "gateway",
        "--api-key",
        "served-key",
        "--time-scale",
        "0.001",
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as served:
        try:
            assert served.stdout is not None
            banner = dict(served.stdout.readline().strip().split("=", 1) for _ in range(3))
            answer = httpx.post(
                f"{banner['base_url']}/api/v1/images/generations",
                json={"model": models.SEEDREAM, "prompt": "x"},
                headers={"authorization": "Bearer served-key"},
                timeout=10,
            )
        finally:
            served.terminate()
            served.wait(15)
    wrong = subprocess.run(
        [sys.executable, "-m", "a1art_async", "emulator", "serve", "--api", "nope"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert "served-key" == banner["api_key"]
    assert (200, True) == (answer.status_code, answer.json()["success"])
    assert 0 == served.returncode
    assert 2 == wrong.returncode
    assert "--api" in wrong.stderr
