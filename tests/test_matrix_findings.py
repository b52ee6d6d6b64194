"""
Each bug the fault matrix found, pinned by a focused test: a batch that survives errors
outside the API's codes, uploads that fail with the SDK's own error, and downloads that
keep no more than the server announced.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

import a1art_async as a1
from a1art_async._engine._download import download
from a1art_async.testing import Emulator, apps, png_bytes
from a1art_async.testing._kit._transport import OversizedStream

from .conftest import API_KEY

pytestmark = pytest.mark.anyio

ELSEWHERE = "https://elsewhere.example"


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


def _node_job(batch: a1.Batch, key: str) -> None:
    batch.add(apps.NODE, key=key, image=png_bytes(20 + len(key), 20), prompt="robot")


async def test_a_redirected_app_read_fails_the_job_and_is_journaled(
    client: a1.AsyncClient, emulator: Emulator, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """
    A batch job whose app read is redirected ends failed with UnexpectedRedirectError,
    recorded in the journal (pending, with its error: nothing was paid, so a later run
    tries again), and nothing is logged as an unexpected failure.
    """
    emulator.faults.redirect_to = ELSEWHERE
    journal = tmp_path / "run.sqlite"
    async with client, client.batch(journal=journal) as batch:
        _node_job(batch, "one")
        outcomes = [outcome async for outcome in batch]
    store = a1.SQLiteJournal(journal)
    records = store.load()
    store.close()
    assert [a1.JobState.FAILED] == [outcome.state for outcome in outcomes]
    assert isinstance(outcomes[0].error, a1.UnexpectedRedirectError)
    assert a1.JobState.PENDING is records["one"].state
    assert "UnexpectedRedirectError" in (records["one"].error or "")
    assert [] == [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_redirected_poll_ends_one_job_and_not_the_batch(
    client: a1.AsyncClient, emulator: Emulator
) -> None:
    """
    A task query answered with a redirect ends that job with a typed error; the batch
    goes on and every job ends once.
    """
    async with client, client.batch() as batch:
        _node_job(batch, "first")
        outcomes = []
        async for outcome in batch:
            outcomes.append(outcome)
            if len(outcomes) == 1:
                emulator.faults.redirect_to = ELSEWHERE
                emulator.faults.endpoints = frozenset({"tasks"})
                _node_job(batch, "second")
    assert ["first", "second"] == [outcome.key for outcome in outcomes]
    assert outcomes[0].ok
    assert isinstance(outcomes[1].error, a1.UnexpectedRedirectError)
    assert outcomes[1].task_id is not None
    assert 2 == emulator.generate_calls()


async def test_a_failed_upload_raises_the_sdk_error_itself(emulator: Emulator) -> None:
    """
    When an upload fails, client.generate raises that upload's typed error, not an
    ExceptionGroup from the task group that uploads concurrently.
    """
    emulator.faults.http_5xx_rate = 1.0
    emulator.faults.endpoints = frozenset({"upload"})
    async with a1.AsyncClient(
        api_key=API_KEY, transport=emulator.transport(), max_retries=0
    ) as client:
        with pytest.raises(a1.UnexpectedResponseError) as caught:
            await client.generate(
                apps.GROUP_PHOTO,
                images=[png_bytes(10, 10), png_bytes(11, 11)],
                style="Polaroid",
                aspect="1:1",
            )
    assert 502 == caught.value.status
    assert 0 == emulator.generate_calls()


async def test_a_body_longer_than_announced_is_refused(tmp_path: Path) -> None:
    """
    A result whose body runs past its Content-Length raises DownloadError and keeps
    no file.
    """

    class Longer(httpx.AsyncByteStream):
        async def __aiter__(self):  # type: ignore[no-untyped-def]
            for _ in range(64):
                yield b"\x00" * 65536

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "image/png", "content-length": "100"}
        return httpx.Response(200, headers=headers, stream=Longer())

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(a1.DownloadError, match="100 bytes announced"):
            await download(http, "https://cdn.example/r.png", tmp_path, "r")
    assert [] == list(tmp_path.iterdir())


async def test_the_emulators_oversized_body_stops_when_closed() -> None:
    """
    The emulator's oversized download behaves like a socket: once the client closes
    the response, no more bytes come.
    """
    stream = OversizedStream(b"head")
    chunks = stream.__aiter__()
    received = [await chunks.__anext__(), await chunks.__anext__()]
    await stream.aclose()
    received += [chunk async for chunk in chunks]
    assert [b"head", 65536] == [received[0], len(received[1])]
    assert 2 == len(received)
