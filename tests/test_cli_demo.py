"""
``a1art demo`` as a newcomer runs it: no key, no network, its default time scale, on this
machine.  One run is on a pseudo-terminal, where the progress board is redrawn live; the
other pipes its output, where nothing is animated and ``--json`` is one document.  They
run at the same time (each is mostly waiting for emulated tasks).
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

#: The demo's promise: well under this many seconds of wall time.
BUDGET = 30.0
DEMO = [sys.executable, "-m", "a1art_async", "demo"]
#: Variables that would make rich treat a terminal differently.
_RICH_VARIABLES = ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS")


def _environment(**extra: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in (*_RICH_VARIABLES, "A1ART_API_KEY", "A1ART_LOG")
    }
    return {**env, **extra}


def _read_all(fd: int, process: subprocess.Popen[bytes], deadline: float) -> bytes:
    chunks: list[bytes] = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        elif process.poll() is not None:
            break
    return b"".join(chunks)


def test_the_demo_renders_live_on_a_terminal_and_plain_into_a_pipe(tmp_path: Path) -> None:
    """
    On a terminal the demo redraws its board (queued, submitted, running, done, failed,
    credits, elapsed) many times and ends with the summary; piped, it prints one line per
    job and no escape codes, and ``--json`` lists every saved file; both finish within
    the budget and write every result file.
    """
    (tmp_path / "tty").mkdir()
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 110, 0, 0))
    started = time.monotonic()
    with (
        subprocess.Popen(
            DEMO,
            cwd=tmp_path / "tty",
            env=_environment(TERM="xterm-256color"),
            stdin=follower,
            stdout=follower,
            stderr=follower,
        ) as on_terminal,
        subprocess.Popen(
            [*DEMO, "--out", str(tmp_path / "piped"), "--json"],
            env=_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as piped,
    ):
        os.close(follower)
        try:
            screen = _read_all(leader, on_terminal, started + BUDGET + 30).decode(
                "utf-8", "replace"
            )
        finally:
            os.close(leader)
        terminal_status = on_terminal.wait(timeout=30)
        terminal_seconds = time.monotonic() - started
        out, errors = piped.communicate(timeout=BUDGET + 30)
        piped_seconds = time.monotonic() - started

    assert 0 == terminal_status, screen[-2000:]
    assert terminal_seconds < BUDGET
    frames = re.findall(r"(\d+)/24 ended", screen)
    assert len(frames) >= 5
    assert "24" == frames[-1]
    assert any(int(frame) < 24 for frame in frames)
    assert "\x1b[" in screen  # cursor movement and colour: a live display
    for header in ("queued", "submitted", "running", "done", "failed", "credits", "elapsed"):
        assert header in screen
    assert "Failed jobs" in screen
    saved = sorted((tmp_path / "tty" / "a1art-demo").iterdir())
    assert len(saved) >= 20

    assert 0 == piped.returncode, errors.decode()
    assert piped_seconds < BUDGET
    assert b"\x1b[" not in errors + out
    assert 24 == errors.decode().count("/24] ")
    body = json.loads(out)
    assert 24 == body["summary"]["jobs"]
    assert 24 == body["summary"]["done"] + body["summary"]["failed"]
    files = [Path(name) for name in body["files"]]
    assert len(files) == len(list((tmp_path / "piped").iterdir()))
    assert all(path.stat().st_size > 0 for path in files)
    assert {".png", ".mp4"} == {path.suffix for path in files}
    assert len(saved) == len(files)
