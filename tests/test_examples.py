"""
Every example runs, as a user would run it, against the built-in emulator.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_roundtrip_example_generates_two_images() -> None:
    """
    The round-trip example ends with a completed task and two result URLs.
    """
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "roundtrip.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert 0 == done.returncode, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("state    completed") for line in lines)
    assert 2 == sum(1 for line in lines if line.startswith("result   https://"))
    assert "credits  2 spent, 98 left" in lines
