"""
The akool emulator served on loopback (``serve --webhooks``) sends each image's sealed
webhooks over real HTTP to its ``webhookUrl``; without it, it sends none.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from a1art_async import PollPolicy, akool
from a1art_async.akool import ImageStatus
from a1art_async.testing._kit import serving
from a1art_async.testing._kit._server import _bind
from a1art_async.testing.akool import Emulator
from a1art_async.testing.akool._server import _api_options

KEY = "made-up-secret-key-24chr"
CLIENT_ID = "made-up-clientid"
QUICK = PollPolicy(first_delay=0.02, hint_fraction=0, interval=0.02, learn_after=None)


class Receiver:
    """
    A loopback HTTP endpoint that keeps every body POSTed to it and answers 200.
    """

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.url = ""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    import uvicorn

    found = Receiver()
    sock = _bind("127.0.0.1", 0)
    config = uvicorn.Config(found, lifespan="off", log_level="warning", loop="asyncio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    found.url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    try:
        yield found
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


async def _create_and_wait(emulator: Emulator, receiver: Receiver) -> tuple[str, ImageStatus]:
    async with akool.AsyncClient(
        api_key=KEY, client_id=CLIENT_ID, base_url=emulator.api_origin, poll_policy=QUICK
    ) as client:
        handle = await client.images.create("a lighthouse", webhook_url=receiver.url)
        image = await handle.result(timeout=30)
        return image.id, image.status


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_serve_with_webhooks_posts_sealed_webhooks_to_the_url(receiver: Receiver) -> None:
    """
    With ``serve_webhooks``, an image's webhooks reach its ``webhookUrl`` over HTTP,
    sealed so that the client opens them: processing, then completed with its URL.
    """
    with serving(
        lambda api, files: Emulator(
            KEY,
            client_id=CLIENT_ID,
            time_scale=0.005,
            api_origin=api,
            files_origin=files,
            serve_webhooks=True,
        )
    ) as emulator:
        image_id, status = await _create_and_wait(emulator, receiver)
        with anyio.fail_after(10):
            while len(receiver.bodies) < 2:  # noqa: ASYNC110 - another thread's server
                await anyio.sleep(0.01)
    client = akool.AsyncClient(api_key=KEY, client_id=CLIENT_ID)
    events = [client.webhooks.open(body) for body in receiver.bodies]
    assert ImageStatus.COMPLETED == status
    assert [(image_id, ImageStatus.PROCESSING), (image_id, ImageStatus.COMPLETED)] == [
        (event.id, event.status) for event in events
    ]
    assert events[1].url is not None


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_serve_without_webhooks_sends_none(receiver: Receiver) -> None:
    """
    Without ``serve_webhooks`` (``serve`` without ``--webhooks``), no webhook is sent.
    """
    with serving(
        lambda api, files: Emulator(
            KEY, client_id=CLIENT_ID, time_scale=0.005, api_origin=api, files_origin=files
        )
    ) as emulator:
        _, status = await _create_and_wait(emulator, receiver)
        deliveries = emulator.deliveries
    assert (ImageStatus.COMPLETED, [], []) == (status, receiver.bodies, deliveries)


def test_serve_takes_a_webhooks_option() -> None:
    """
    ``serve --webhooks`` is an option of the akool emulator's command, off by default.
    """
    import argparse

    parser = argparse.ArgumentParser()
    _api_options(parser)
    assert (False, True) == (
        parser.parse_args([]).webhooks,
        parser.parse_args(["--webhooks"]).webhooks,
    )
