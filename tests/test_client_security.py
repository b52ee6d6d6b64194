"""
The API key stays secret: not in reprs, errors or logs, and sent only to the API origin.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import a1art_async as a1
from a1art_async.testing import Emulator, apps

from .conftest import API_KEY

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


async def test_key_is_absent_from_repr_str_errors_and_logs(
    client: a1.AsyncClient, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """
    With DEBUG logging and failing requests, the key shows up nowhere.
    """
    caplog.set_level(logging.DEBUG, logger="a1art_async")
    emulator.faults.server_error_rate = 0.5
    texts = [repr(client), str(client), repr(client.apps), repr(client.retry)]
    async with client:
        for app_id in (apps.FORM, apps.NO_API, "42"):
            try:
                await client.apps.get(app_id)
            except a1.A1ArtError as error:
                texts += [str(error), repr(error)]
    texts += [record.getMessage() for record in caplog.records]
    assert caplog.records
    assert [] == [text for text in texts if API_KEY in text]


async def test_debug_log_has_request_line_and_status_and_info_has_retries(
    client: a1.AsyncClient, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """
    Each request is logged at DEBUG with its status; each retry at INFO.
    """
    caplog.set_level(logging.DEBUG, logger="a1art_async")
    emulator.faults.server_error_rate = 1.0
    emulator.faults.endpoints = frozenset({"tasks"})
    async with client:
        await client.apps.get(apps.FORM)
        with pytest.raises(a1.ServerError):
            await client.tasks.get("0" * 32)
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert f"GET https://a1.art/open-api/v1/a1/apps/{apps.FORM} -> 200" in debug
    assert 3 == len(info)
    assert all(message.startswith("retrying GET /tasks/") for message in info)


async def test_key_goes_only_to_the_api_origin(client: a1.AsyncClient, emulator: Emulator) -> None:
    """
    Requests to the file host made through the client's pool carry no key.
    """
    async with client:
        app = await client.apps.get(apps.FORM)
        response = await client.http.get(app.styles[0].image)
    assert 200 == response.status_code
    keyed = {entry.origin for entry in emulator.journal if entry.headers.get("apikey")}
    assert {"https://a1.art"} == keyed
    assert emulator.journal[-1].origin != "https://a1.art"


def test_plain_http_is_refused_off_loopback() -> None:
    """
    A base_url over plain http to a non-loopback host is refused.
    """
    with pytest.raises(a1.ValidationError, match="http"):
        a1.AsyncClient(api_key=API_KEY, base_url="http://a1.art")
    client = a1.AsyncClient(api_key=API_KEY, base_url="http://127.0.0.1:9")
    assert "http://127.0.0.1:9" == client.origin


def test_a1art_log_env_prints_requests_without_the_key(tmp_path: Path) -> None:
    """
    A1ART_LOG=debug makes a fresh process log each request line to stderr, key-free.
    """
    script = tmp_path / "one_call.py"
    script.write_text(
        "import anyio\n"
        "from a1art_async import AsyncClient\n"
        "from a1art_async.testing import Emulator, apps\n"
        "async def main():\n"
        f"    emulator = Emulator(api_key={API_KEY!r})\n"
        f"    async with AsyncClient(api_key={API_KEY!r}, transport=emulator.transport()) as c:\n"
        "        await c.apps.get(apps.FORM)\n"
        "anyio.run(main)\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "A1ART_LOG": "debug"},
    )
    assert 0 == done.returncode, done.stderr
    assert f"GET https://a1.art/open-api/v1/a1/apps/{apps.FORM} -> 200" in done.stderr
    assert API_KEY not in done.stderr + done.stdout
