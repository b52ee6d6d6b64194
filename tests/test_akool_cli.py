"""
``a1art akool create|press|get`` against the emulator in process, on both backends in
virtual time: output, ``--json``, exit statuses and checks before anything is sent.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from a1art_async._cli._app import run_parsed
from a1art_async._cli._args import parse
from a1art_async.testing.akool import Emulator

from ._akool import requests_to

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


async def _run(emulator: Emulator, *argv: str) -> tuple[int, str, str]:
    args, _ = parse(["akool", *argv, "--api-key", emulator.api_key])
    out, err = io.StringIO(), io.StringIO()
    code = await run_parsed(args, stdout=out, stderr=err, transport=emulator.transport())
    return code, out.getvalue(), err.getvalue()


async def test_create_waits_saves_and_prints_the_image(tmp_path: Path) -> None:
    """
    create waits for the image, saves it under --out and prints its id, status, result
    URL and credits; --json prints one document with the same.
    """
    emulator = Emulator(seed=1)
    code, out, err = await _run(emulator, "create", "--prompt", "a fox", "--out", str(tmp_path))
    assert 0 == code, err
    image_id = next(iter(emulator.images))
    assert f"saved    {tmp_path / (image_id + '.png')}" in out
    assert "completed" in out
    code, out, _ = await _run(emulator, "create", "--prompt", "a hen", "--scale", "9:16", "--json")
    document = json.loads(out)
    assert (0, "completed", 2) == (code, document["image"]["status"], document["credits"])
    assert emulator.api_key not in out + err


async def test_no_wait_prints_a_token_that_get_resumes() -> None:
    """
    create --no-wait prints the image id and a token; get TOKEN --wait waits for it;
    press on the result makes a 4K image.
    """
    emulator = Emulator(seed=2)
    code, out, _ = await _run(emulator, "create", "--prompt", "x", "--no-wait", "--json")
    submitted = json.loads(out)
    assert (0, "submitted") == (code, submitted["status"])
    code, out, _ = await _run(emulator, "get", submitted["token"], "--wait", "--json")
    image = json.loads(out)["image"]
    assert (0, submitted["image_id"], "completed") == (code, image["id"], image["status"])
    code, out, _ = await _run(emulator, "press", image["id"], "U4", "--json")
    pressed = json.loads(out)["image"]
    assert (0, "U4", image["id"]) == (
        code,
        pressed["op_button"],
        pressed["image_content_model_id"],
    )


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (("create", "--prompt", "x", "--scale", "5:4"), "--scale"),
        (("create", "--prompt", " "), "--prompt"),
        (("create", "--prompt", "x", "--source-image", "cat.png"), "--source-image"),
        (("press", "abc", "U7"), "BUTTON"),
    ],
)
async def test_bad_arguments_exit_2_before_anything_is_sent(argv: Any, flag: str) -> None:
    """
    A bad scale, prompt, source or button exits with status 2, names its flag, and
    sends nothing.
    """
    emulator = Emulator(seed=3)
    code, _, err = await _run(emulator, *argv)
    assert 2 == code
    assert f"a1art: {flag}:" in err
    assert [] == emulator.journal


async def test_exit_statuses_follow_the_a1art_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """
    An API error exits 3 with its code, a failed image 5, an outcome-unknown create 4,
    and no key at all 2.
    """
    emulator = Emulator(seed=4)
    code, _, err = await _run(emulator, "get", "0" * 24)
    assert (3, "a1art: API error 1008: The content you get does not exist") == (
        code,
        err.strip(),
    )
    emulator.faults.task_failure_rate = 1.0
    assert 5 == (await _run(emulator, "create", "--prompt", "doomed"))[0]
    emulator.faults.update({"task_failure_rate": 0.0, "drop_after_rate": 1.0})
    code, _, err = await _run(emulator, "create", "--prompt", "lost")
    assert 4 == code
    assert "not resent" in err
    assert 2 == len(requests_to(emulator, "createbyprompt"))  # the lost one sent once
    monkeypatch.delenv("AKOOL_API_KEY", raising=False)
    args, _ = parse(["akool", "get", "abc"])
    err_stream = io.StringIO()
    assert 2 == await run_parsed(args, stdout=io.StringIO(), stderr=err_stream)
    assert "AKOOL_API_KEY" in err_stream.getvalue()
