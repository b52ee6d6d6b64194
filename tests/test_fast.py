"""
The fast transport, ``transport="aiohttp"``: the SDK over aiohttp against the emulator on
loopback HTTP (real time, short tasks), its refusal on trio, and what a dropped
connection means for credits.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator

import pytest

import a1art_async as a1
from a1art_async._engine._wire import Reply
from a1art_async.testing import Emulator, apps
from a1art_async.testing._kit import serving

pytestmark = pytest.mark.anyio

KEY = "test-key-0123456789abcdef"
QUICK = a1.PollPolicy(first_delay=0.02, hint_fraction=0, interval=0.02, learn_after=None)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def served() -> Iterator[Emulator]:
    with serving(
        lambda api, files: Emulator(
            KEY, balance=100, time_scale=0.001, api_origin=api, cdn_origin=files
        )
    ) as emulator:
        yield emulator


async def test_a_generation_runs_end_to_end_over_aiohttp(served: Emulator) -> None:
    """
    With ``transport="aiohttp"`` a client reads an app, generates, waits for the task
    and downloads its result, exactly as over httpx's own transport.
    """
    async with a1.AsyncClient(
        api_key=KEY, base_url=served.api_origin, transport="aiohttp", poll_policy=QUICK
    ) as client:
        handle = await client.generate(
            apps.TEXT, prompt="hills", style="Summer Meadow", aspect="1:1"
        )
        task = await handle.result()
        data = (await client.http.get(task.images[0])).content
    assert (a1.TaskState.COMPLETED, b"\x89PNG") == (task.state, data[:4])
    assert 1 == served.charged()


async def test_a_connection_closed_after_the_request_was_read_is_outcome_unknown() -> None:
    """
    A server that reads a generate and closes the connection without a word leaves its
    outcome unknown: ``GenerationOutcomeUnknown``, sent once (aiohttp's transport alone
    would call it a connect timeout, "never sent", and the generate would be resent).
    """
    received: list[bytes] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        received.append(head + await reader.readexactly(length))
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    request = a1.GenerateRequest(
        app_id=apps.TEXT, version_id="v", style_id="s", size="1:1", generate_num=1
    )
    try:
        async with a1.AsyncClient(
            api_key=KEY, base_url=f"http://127.0.0.1:{port}", transport="aiohttp"
        ) as client:
            with pytest.raises(a1.GenerationOutcomeUnknown):
                await client.images.generate(request)
    finally:
        server.close()
    assert 1 == len(received)


async def test_a_server_that_is_not_there_is_a_connect_error() -> None:
    """
    Nothing listening: a query is retried, then raises ``ConnectError`` (never sent).
    """
    async with a1.AsyncClient(
        api_key=KEY,
        base_url="http://127.0.0.1:9",
        transport="aiohttp",
        retry=a1.RetryPolicy(max_retries=1, initial=0.01, cap=0.01),
    ) as client:
        with pytest.raises(a1.ConnectError):
            await client.apps.get(apps.TEXT)


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_on_trio_the_aiohttp_transport_is_refused() -> None:
    """
    Opening a client with ``transport="aiohttp"`` on trio raises ``ValidationError``
    naming the argument, before any request.
    """
    client = a1.AsyncClient(api_key=KEY, transport="aiohttp")
    with pytest.raises(a1.ValidationError, match="asyncio only") as raised:
        async with client:
            pass
    assert "transport" == raised.value.field


def test_another_string_is_refused() -> None:
    """
    A transport given as any string but ``"aiohttp"`` raises ``ValidationError``.
    """
    with pytest.raises(a1.ValidationError, match="transport"):
        a1.AsyncClient(api_key=KEY, transport="curl")  # type: ignore[arg-type]


def test_without_the_extra_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """
    Without ``httpx-aiohttp`` installed, asking for it raises ``ValidationError`` with
    the install command of the ``fast`` extra.
    """
    monkeypatch.setitem(sys.modules, "httpx_aiohttp", None)
    with pytest.raises(a1.ValidationError, match=r"\.\[fast\]"):
        a1.AsyncClient(api_key=KEY, transport="aiohttp")


async def test_a_redirect_is_not_followed_and_the_key_stays_home(served: Emulator) -> None:
    """
    On the fast transport an API answer of 307 to another origin raises
    ``UnexpectedRedirectError``, once: nothing follows it, so the key never leaves.
    """
    served.faults.redirect_to = "http://127.0.0.1:9"  # followed, this would not connect
    async with a1.AsyncClient(
        api_key=KEY, base_url=served.api_origin, transport="aiohttp"
    ) as client:
        with pytest.raises(a1.UnexpectedRedirectError):
            await client.apps.get(apps.TEXT)
    assert ["redirect"] == [entry.outcome for entry in served.journal]


def test_a_reply_without_an_httpx_response_reads_its_raw_headers() -> None:
    """
    A reply made from a status and raw headers (the direct path) finds ``Retry-After``
    in any case, and builds the httpx response only when asked.
    """
    reply = Reply(None, b"{}", str, status=429, raw_headers=[(b"Retry-After", b"3")])
    assert (3.0, 429, "3") == (
        reply.retry_after,
        reply.response.status_code,
        reply.response.headers["retry-after"],
    )
