"""
The command line for the gateway: ``a1art gateway generate`` and ``a1art gateway task``
against the emulator in process, with the command line's output conventions and exit
statuses, and the batch rows of the gateway.
"""

from __future__ import annotations

import argparse
import contextlib

import pytest

from a1art_async import gateway
from a1art_async._cli._exit import ExitCode, describe, error_json, exit_code
from a1art_async._cli._interrupt import Interrupts, resume_command


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
