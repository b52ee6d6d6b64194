"""
The akool webhook service example runs, as a user would run it, against the emulator.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_webhook_service_demo_gets_every_image_with_and_without_webhooks() -> None:
    """
    The demo's six images all complete through the service, the real webhooks are
    delivered, the forged copies (one per webhook) refused, and each image is paid for once.
    """
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "akool_webhook_service.py"), "--demo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert 0 == done.returncode, done.stderr
    lines = done.stdout.splitlines()
    assert 3 == sum(line.startswith("webhooks       200 completed") for line in lines)
    assert 3 == sum(line.startswith("webhooks lost  200 completed") for line in lines)
    assert "webhooks delivered 6, refused 6" in lines
    assert "credits 12" in lines
