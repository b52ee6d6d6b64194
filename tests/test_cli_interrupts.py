"""
Ctrl-C never loses a task the user paid for: in-process, on both backends in virtual
time, the command is stopped before, during and after its spending request.  The
subprocess test with a real SIGINT is in ``test_cli.py``.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import signal
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

from a1art_async._cli._app import run_context, run_parsed
from a1art_async._cli._args import parse
from a1art_async._cli._context import Context
from a1art_async._cli._exit import ExitCode
from a1art_async._cli._interrupt import Interrupts
from a1art_async.testing import Emulator, apps, png_bytes

KEY = "sk-interrupt-41c2d9"


@pytest.fixture
def anyio_backend(virtual_backend: Any) -> Any:
    return virtual_backend


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(api_key=KEY, balance=1000, seed=5)


@pytest.fixture
def pet(tmp_path: Path) -> Path:
    path = tmp_path / "pet.png"
    path.write_bytes(png_bytes(320, 240))
    return path


@attrs.frozen
class Stopped:
    code: int | None
    stdout: str
    stderr: str


async def _when_recorded(emulator: Emulator, endpoint: str) -> None:
    # The emulator's journal has no event to wait on: look at it every 10 ms.
    while not any(entry.endpoint == endpoint for entry in emulator.journal):  # noqa: ASYNC110
        await anyio.sleep(0.01)


async def interrupted(
    emulator: Emulator, endpoint: str, *argv: str, times: int = 1, pause: float = 0.0
) -> Stopped:
    """
    Run a command and interrupt it, as Ctrl-C does, *times* times once the emulator has
    recorded a request to *endpoint*.
    """
    args, _ = parse(["--api-key", KEY, *argv])
    out, err = io.StringIO(), io.StringIO()
    ctx = Context(args, stdout=out, stderr=err, transport=emulator.transport())
    code: int | None = None

    async def stop() -> None:
        await _when_recorded(emulator, endpoint)
        for _ in range(times):
            ctx.interrupts.interrupt()
            await anyio.sleep(pause)

    async with anyio.create_task_group() as group:
        group.start_soon(stop)
        code = await run_context(ctx)
        group.cancel_scope.cancel()
    stopped = Stopped(code, out.getvalue(), err.getvalue())
    assert KEY not in stopped.stdout + stopped.stderr
    return stopped


def _generate(pet: Path, *more: str) -> tuple[str, ...]:
    return ("generate", apps.NODE, "--image", str(pet), "--prompt", "ADA", *more)


@pytest.mark.anyio
async def test_cancelling_the_command_after_the_generate_names_the_task(
    emulator: Emulator, pet: Path, tmp_path: Path
) -> None:
    """
    When the command's scope is cancelled once the emulator has recorded the generate
    (its answer still on the way), stderr names the created task, its credits and the
    ``a1art task TOKEN --wait --out DIR`` command that resumes it.
    """
    emulator.faults.latency = 3.0
    emulator.faults.endpoints = frozenset({"generate"})
    out, err = io.StringIO(), io.StringIO()
    args, _ = parse(["--api-key", KEY, *_generate(pet, "--out", str(tmp_path / "out"))])
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as group:

            async def cancel_after_generate() -> None:
                await _when_recorded(emulator, "generate")
                scope.cancel()

            group.start_soon(cancel_after_generate)
            await run_parsed(args, stdout=out, stderr=err, transport=emulator.transport())
    created = [entry.task_id for entry in emulator.journal if entry.endpoint == "generate"]
    lines = err.getvalue().splitlines()
    assert scope.cancelled_caught
    assert 1 == len(created)
    assert f"a1art: interrupted; task {created[0]} goes on, 1-2 credits" == lines[-2]
    assert lines[-1].startswith("resume: a1art task '{")
    assert lines[-1].endswith(f"' --wait --out {tmp_path / 'out'}")
    token = shlex.split(lines[-1])[3]
    assert created[0] == json.loads(token)["task_id"]


@pytest.mark.anyio
async def test_ctrl_c_while_waiting_exits_130_with_the_task(emulator: Emulator, pet: Path) -> None:
    """
    Ctrl-C while ``generate`` waits exits 130, names the task and how to resume it on
    stderr, and with ``--json`` prints them as the error document on stdout.
    """
    stopped = await interrupted(emulator, "tasks", *_generate(pet, "--json"))
    created = [entry.task_id for entry in emulator.journal if entry.endpoint == "generate"]
    error = json.loads(stopped.stdout)["error"]
    assert ExitCode.INTERRUPTED == stopped.code
    assert f"a1art: interrupted; task {created[0]} goes on, 1-2 credits" in stopped.stderr
    assert (created[0], 130, 2) == (error["task_id"], error["exit_code"], error["credits"])
    assert error["resume"].startswith("a1art task '{")
    assert created[0] == json.loads(error["token"])["task_id"]


@pytest.mark.anyio
async def test_ctrl_c_during_an_enhance_names_its_task(emulator: Emulator, pet: Path) -> None:
    """
    Ctrl-C once the enhance request has left still waits for its answer, then exits 130
    naming the enhance task and its 3 credits.
    """
    emulator.faults.latency = 2.0
    emulator.faults.endpoints = frozenset({"optimize"})
    stopped = await interrupted(emulator, "optimize", "enhance", str(pet))
    created = [entry.task_id for entry in emulator.journal if entry.endpoint == "optimize"]
    assert ExitCode.INTERRUPTED == stopped.code
    assert 1 == len(created)
    assert f"a1art: interrupted; task {created[0]} goes on, 3 credits" in stopped.stderr
    assert "resume: a1art task '{" in stopped.stderr


@pytest.mark.anyio
async def test_ctrl_c_before_the_generate_leaves_sends_nothing(
    emulator: Emulator, pet: Path
) -> None:
    """
    Ctrl-C while the image is still uploading stops the command before the generate is
    sent: nothing is charged, and the message names no task.
    """
    emulator.faults.latency = 3.0
    emulator.faults.endpoints = frozenset({"upload"})
    stopped = await interrupted(emulator, "upload", *_generate(pet))
    await anyio.sleep(10)
    assert ExitCode.INTERRUPTED == stopped.code
    assert ["a1art: interrupted"] == stopped.stderr.splitlines()
    assert 0 == emulator.generate_calls()
    assert 1000 == emulator.balance(KEY)


@pytest.mark.anyio
async def test_a_second_ctrl_c_gives_up_the_answer_and_says_it_may_be_charged(
    emulator: Emulator, pet: Path
) -> None:
    """
    A second Ctrl-C while the generate's answer is awaited gives it up at once and says
    the request may have been charged.
    """
    emulator.faults.latency = 30.0
    emulator.faults.endpoints = frozenset({"generate"})
    stopped = await interrupted(emulator, "generate", *_generate(pet), times=2, pause=1.0)
    sent = next(entry.time for entry in emulator.journal if entry.endpoint == "generate")
    assert ExitCode.INTERRUPTED == stopped.code
    assert anyio.current_time() - sent < 10  # not the 30 s the answer would have taken
    assert 1 == emulator.generate_calls()
    assert [
        "a1art: interrupted while the request was in flight: it may have been charged, and "
        "its task id is unknown"
    ] == stopped.stderr.splitlines()


@pytest.mark.anyio
async def test_ctrl_c_while_task_waits_says_how_to_resume(emulator: Emulator, pet: Path) -> None:
    """
    Ctrl-C during ``task ID --wait`` exits 130 with the command that resumes the wait,
    and no credits (this command paid for nothing).
    """
    args, _ = parse(["--api-key", KEY, *_generate(pet, "--no-wait", "--json")])
    out = io.StringIO()
    assert 0 == await run_parsed(
        args, stdout=out, stderr=io.StringIO(), transport=emulator.transport()
    )
    task_id = json.loads(out.getvalue())["task_id"]
    emulator.reset_journal()
    stopped = await interrupted(emulator, "tasks", "task", task_id, "--wait")
    assert ExitCode.INTERRUPTED == stopped.code
    assert f"a1art: interrupted; task {task_id} goes on" == stopped.stderr.splitlines()[-2]
    assert stopped.stderr.splitlines()[-1].startswith("resume: a1art task '{")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_two_sigints_are_handled_then_ctrl_c_is_python_s_again(backend: str) -> None:
    """
    The first SIGINT cancels the command's scope, the second is handled too (it would
    give up a spending request's answer), and then the handler is Python's again, so a
    third Ctrl-C always ends the program.
    """
    # Python's own handler to start from, whatever this process inherited (a shell
    # starts background jobs with SIGINT ignored).
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    before = signal.getsignal(signal.SIGINT)
    interrupts = Interrupts()
    waited: list[bool] = []

    async def main() -> None:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                await group.start(interrupts.watch_sigint)
                with interrupts.scope():
                    os.kill(os.getpid(), signal.SIGINT)
                    await anyio.sleep(10)
                    waited.append(True)
                os.kill(os.getpid(), signal.SIGINT)

    try:
        anyio.run(main, backend=backend)
        after = signal.getsignal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, inherited)
    assert [] == waited
    assert 2 == interrupts._signals
    assert before == after
