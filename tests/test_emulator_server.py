"""
The loopback server: ``python -m a1art_async.testing serve`` in a subprocess, over real HTTP.

These tests run on real time (sockets and virtual clocks do not mix) and keep every wait
short: tasks run at ``--time-scale 0.001``.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import httpx
import pytest

from a1art_async._cli._serve import serve as cli_serve
from a1art_async.testing import apps, png_bytes
from a1art_async.testing._a1art._server import main
from a1art_async.testing._kit._server import INSTALL_HINT

from .test_emulator_support import API, code_of, generate, valid_body

COMMAND = [sys.executable, "-m", "a1art_async.testing", "serve", "--port", "0"]

#: The two ways to start the server, by the name each gives itself in its messages.
STARTS = {
    "a1art emulator serve": [sys.executable, "-m", "a1art_async", "emulator", "serve"],
    "python -m a1art_async.testing serve": [sys.executable, "-m", "a1art_async.testing", "serve"],
}


async def _banner(process: anyio.abc.Process) -> dict[str, str]:
    assert process.stdout is not None
    buffer = b""
    with anyio.fail_after(30):
        while buffer.count(b"\n") < 3:
            buffer += await process.stdout.receive()
    lines = buffer.decode().splitlines()
    return dict(line.split("=", 1) for line in lines[:3])


@asynccontextmanager
async def _serving(*arguments: str) -> AsyncIterator[tuple[anyio.abc.Process, dict[str, str]]]:
    """
    Run the server; on the way out, kill it if the test did not stop it.
    """
    process = await anyio.open_process(
        [*COMMAND, *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    async with process:
        try:
            yield process, await _banner(process)
        finally:
            if process.returncode is None:
                process.kill()
                with anyio.CancelScope(shield=True):
                    await process.wait()


async def _stop(process: anyio.abc.Process) -> bytes:
    """
    SIGTERM the server, wait for it, and return what it wrote to stderr.
    """
    process.terminate()
    with anyio.fail_after(15):
        await process.wait()
    assert process.stderr is not None
    errors = b""
    try:
        while True:
            errors += await process.stderr.receive()
    except (anyio.EndOfStream, anyio.ClosedResourceError):
        pass
    return errors


@pytest.mark.anyio
async def test_loopback_server_serves_the_whole_flow() -> None:
    """
    The served emulator prints its origins and key, then runs upload, generate, poll and
    download over real HTTP, with admin endpoints, a dropped connection and a clean stop.
    """
    arguments = ["--api-key", "loop-key", "--balance", "50", "--time-scale", "0.001"]
    async with _serving(*arguments) as (process, banner):
        assert ["base_url", "cdn_url", "api_key"] == list(banner)
        assert "loop-key" == banner["api_key"]
        assert banner["base_url"].startswith("http://127.0.0.1:")
        assert banner["cdn_url"].startswith("http://127.0.0.1:")
        assert banner["base_url"] != banner["cdn_url"]
        headers = {"apiKey": banner["api_key"]}
        async with httpx.AsyncClient(base_url=banner["base_url"], headers=headers) as c:
            body = await valid_body(c, apps.FORM, "2")
            task_id = (await generate(c, body)).json()["data"]["taskId"]
            for _ in range(1000):  # ~22 ms of generation at this time scale
                data = (await c.get(f"{API}/tasks/{task_id}")).json()["data"]
                if data["state"] == 10:
                    break
                await anyio.sleep(0.01)
            picture = await c.get(data["images"][1])
            unknown_key = await c.get(f"{API}/apps/{apps.FORM}", headers={"apiKey": "x"})
            stats = (await c.get("/_emulator/stats")).json()
            knobs = {"drop_after_rate": 1.0, "endpoints": ["generate"]}
            assert 200 == (await c.post("/_emulator/faults", json=knobs)).status_code
            with pytest.raises(httpx.RemoteProtocolError):
                await generate(c, body)
            journal = (await c.get("/_emulator/journal")).json()
        errors = await _stop(process)
    assert all(url.startswith(banner["cdn_url"] + "/results/") for url in data["images"])
    assert (200, "image/png") == (picture.status_code, picture.headers["content-type"])
    assert png_bytes()[:8] == picture.content[:8]
    assert 10411 == code_of(unknown_key)
    assert {"balance": 48, "vip": False, "charged": 2, "generate_calls": 1} == stats["keys"][
        "loop-key"
    ]
    assert ["file", "apps", "generate"] == [entry["endpoint"] for entry in journal[-3:]]
    assert ["ok", "error", "dropped_after"] == [entry["outcome"] for entry in journal[-3:]]
    assert b"Traceback" not in errors


@pytest.mark.anyio
async def test_server_stops_on_sigint_too() -> None:
    """
    SIGINT stops the server like SIGTERM does.
    """
    async with _serving() as (process, banner):
        async with httpx.AsyncClient(base_url=banner["cdn_url"]) as c:
            missing = await c.get("/results/nothing/0.png")
        process.send_signal(signal.SIGINT)
        with anyio.fail_after(15):
            await process.wait()
    assert 404 == missing.status_code


def test_missing_uvicorn_prints_the_install_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """
    Without uvicorn, ``serve`` prints how to install the extra and exits with status 2.
    """
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    assert 2 == main(["serve"])
    assert "pip install -e '.[server]'" in capsys.readouterr().err
    assert ".[server]" in INSTALL_HINT


def test_a_command_is_required() -> None:
    """
    Running the module without a command is a usage error (exit status 2).
    """
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert 2 == exit_info.value.code


@pytest.mark.parametrize("name", list(STARTS))
@pytest.mark.parametrize(
    ("sent", "status", "lines"),
    [
        (signal.SIGINT, 130, ["{name}: interrupted; the emulator stopped"]),
        (signal.SIGTERM, 0, []),
    ],
    ids=["ctrl-c", "sigterm"],
)
def test_a_signal_stops_the_server_with_its_documented_status(
    name: str, sent: signal.Signals, status: int, lines: list[str]
) -> None:
    """
    Ctrl-C ends the server with status 130 and one line on stderr; SIGTERM with status 0
    and nothing; neither prints a traceback.
    """
    with subprocess.Popen(
        [*STARTS[name], "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        banner = [process.stdout.readline() for _ in range(3)]
        process.send_signal(sent)
        _, errors = process.communicate(timeout=30)
    assert banner[0].startswith("base_url=http://127.0.0.1:")
    assert (status, [line.format(name=name) for line in lines]) == (
        process.returncode,
        errors.splitlines(),
    )
    assert "Traceback" not in errors


@pytest.mark.parametrize("name", list(STARTS))
def test_a_busy_port_exits_1_with_one_line(name: str) -> None:
    """
    A port another socket listens on ends the server with status 1 and one line naming
    the port and the option, before any banner and without a traceback.
    """
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*STARTS[name], "--port", str(port)], capture_output=True, text=True, timeout=30
        )
    expected = (
        f"{name}: cannot listen on 127.0.0.1 port {port} (--port): address already in use;"
        " --port 0 picks a free one"
    )
    assert (1, "", [expected]) == (done.returncode, done.stdout, done.stderr.splitlines())


def test_usage_names_the_command_it_was_run_as(capsys: pytest.CaptureFixture[str]) -> None:
    """
    The help of ``a1art emulator serve`` names ``a1art``; the module's names the module.
    """
    assert 0 == cli_serve(["--help"])
    through_cli = capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--help"])
    through_module = capsys.readouterr().out
    assert 0 == exit_info.value.code
    assert through_cli.startswith("usage: a1art emulator serve [-h]")
    assert through_module.startswith("usage: python -m a1art_async.testing serve [-h]")
    assert "python -m" not in through_cli


def test_an_out_of_range_port_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """
    A port outside 0-65535 is refused by the argument parser with status 2.
    """
    assert 2 == cli_serve(["--port", "70000"])
    assert "a1art emulator serve: error: argument --port: a port is 0-65535, got 70000" in (
        capsys.readouterr().err
    )
