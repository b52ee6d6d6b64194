"""
akool webhooks: opening bodies (good, forged, tampered, unreadable), the ASGI endpoint,
and webhooks together with polling (a webhook cuts the lag to about one round trip;
duplicate, late, reordered, forged or missing webhooks change nothing but timing), on
both backends in virtual time.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from typing import Any

import anyio
import attrs
import httpx
import pytest

from a1art_async import akool
from a1art_async.testing.akool import Emulator, seal

from ._akool import make_client

pytestmark = pytest.mark.anyio

KEY = "made-up-secret-key-24chr"
CLIENT_ID = "made-up-clientid"
DATA = {"_id": "65d3206b83ccf5ab7d46cdc6", "status": 3, "type": "image", "url": "https://x/y.png"}
HOOK = "https://hooks.example/akool"


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


def _body(**changes: Any) -> dict[str, Any]:
    body = seal(DATA, api_key=KEY, client_id=CLIENT_ID, timestamp=1710757981609, nonce="1529")
    body.update(changes)
    return body


@pytest.mark.parametrize("form", ["dict", "bytes", "str"])
def test_a_sealed_body_opens_to_its_event(form: str) -> None:
    """
    A body sealed with a key and client id opens with them, whether given as the parsed
    object, the raw bytes or a string.
    """
    body: Any = _body()
    if form != "dict":
        body = json.dumps(body)
        body = body.encode() if form == "bytes" else body
    event = akool.webhooks.open(body, api_key=KEY, client_id=CLIENT_ID)
    assert (
        akool.WebhookEvent(
            DATA["_id"], akool.ImageStatus.COMPLETED, "image", DATA["url"], "1710757981609", "1529"
        )
        == event
    )


@pytest.mark.parametrize("key", ["k" * 16, "k" * 32])
def test_other_aes_key_sizes_open_too(key: str) -> None:
    """
    Keys of 16 and 32 bytes (AES-128, AES-256) work as well as akool's 24.
    """
    body = seal(DATA, api_key=key, client_id=CLIENT_ID, timestamp=1, nonce="2")
    assert DATA["_id"] == akool.webhooks.open(body, api_key=key, client_id=CLIENT_ID).id


def _tampered() -> dict[str, Any]:
    text = _body()["dataEncrypt"]
    return _body(dataEncrypt=("B" if text[0] == "A" else "A") + text[1:])


def _forged() -> dict[str, Any]:
    # Signed correctly (the signature is unkeyed), encrypted with another key.
    return seal(
        DATA, api_key="another-key-of-24-chars!", client_id=CLIENT_ID, timestamp=1, nonce="2"
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_tampered, "signature"),
        (lambda: _body(signature="0" * 40), "signature"),
        (lambda: _body(nonce="1530"), "signature"),
        (_forged, "decrypt"),
        (lambda: {"dataEncrypt": "x", "timestamp": 1, "nonce": "2"}, "signature"),
        (lambda: b"<html>not json</html>", "JSON"),
        (lambda: b"[1, 2]", "object"),
    ],
)
def test_a_forged_tampered_or_unreadable_body_is_refused(body: Any, reason: str) -> None:
    """
    A tampered ciphertext, nonce or signature, a body signed but encrypted with another
    key, a missing field and a body that is not a JSON object each raise WebhookError.
    """
    with pytest.raises(akool.WebhookError) as refused:
        akool.webhooks.open(body(), api_key=KEY, client_id=CLIENT_ID)
    assert reason in str(refused.value)


def test_keys_aes_cannot_use_are_refused_clearly() -> None:
    """
    A key that is not 16, 24 or 32 bytes, or a client id that is not 16, is a
    WebhookError saying so.
    """
    body = _body()
    body["signature"] = akool.webhooks.signature(
        "short-id", "1710757981609", "1529", body["dataEncrypt"]
    )
    with pytest.raises(akool.WebhookError, match="client id"):
        akool.webhooks.open(body, api_key=KEY, client_id="short-id")
    with pytest.raises(akool.WebhookError, match="API key"):
        akool.webhooks.open(_body(), api_key="short", client_id=CLIENT_ID)


def test_without_cryptography_importing_works_and_opening_names_the_extra() -> None:
    """
    With cryptography unimportable, ``from a1art_async import akool`` works and opening
    a webhook raises ImportError naming pip install -e '.[akool]'.
    """
    script = (
        "import sys, json\n"
        "sys.modules['cryptography'] = None\n"
        "from a1art_async import akool\n"
        "try:\n"
        "    body, key, client_id = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]\n"
        "    akool.webhooks.open(body, api_key=key, client_id=client_id)\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(_body()), KEY, CLIENT_ID],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert 0 == done.returncode, done.stderr
    assert "pip install -e '.[akool]'" in done.stdout


async def test_the_asgi_endpoint_answers_and_hands_the_event_over() -> None:
    """
    The endpoint answers 200 to a good body, 400 to a forged one, 405 to GET and 413 to
    a body too large, and counts what it delivered.
    """
    emulator = Emulator()
    async with make_client(emulator, api_key=KEY, client_id=CLIENT_ID) as client:
        app = client.webhooks.asgi()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://hooks"
        ) as http:
            good = await http.post("/", json=_body())
            forged = await http.post("/", json=_forged())
            wrong = await http.get("/")
            large = await http.post("/", content=b"x" * 70_000)
        assert (1, 1) == (client.webhooks.delivered, client.webhooks.refused)
    assert [200, 400, 405, 413] == [r.status_code for r in (good, forged, wrong, large)]
    assert DATA["_id"] == good.json()["id"]


async def _run(
    emulator: Emulator, *, webhooks: bool = True, count: int = 4
) -> tuple[list[float], akool.AsyncClient]:
    """
    Create *count* images with a webhook URL and wait for them, while the emulator
    sends webhooks to the client's ASGI endpoint; the lag of each result after the
    image completed.
    """
    lags: list[float] = []
    # Without jitter, a seeded emulator makes every run's timing the same.
    exact = attrs.evolve(akool._config.WEBHOOK_POLL_POLICY, jitter=0.0)
    client = make_client(emulator, webhook_url=HOOK, poll_policy=exact)
    async with client:
        transport = httpx.ASGITransport(client.webhooks.asgi())
        handles = [await client.images.create(f"hooked {n}") for n in range(count)]

        async def wait(handle: akool.ImageHandle) -> None:
            with contextlib.suppress(akool.ImageFailedError):
                await handle.result()
            lags.append(anyio.current_time() - emulator.complete_at(handle.task_id))

        sending = emulator.sending_webhooks(transport=transport)
        async with sending if webhooks else _nothing(), anyio.create_task_group() as group:
            for handle in handles:
                group.start_soon(wait, handle)
    return lags, client


class _nothing:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


async def test_a_webhook_cuts_the_lag_to_about_one_round_trip() -> None:
    """
    With webhooks, each result arrives within one round trip (0.2 s each way here) of
    the image completing, though background polling is slow; without them the same
    client still gets every result, seconds later.
    """
    hooked = Emulator(seed=8)
    hooked.faults.latency = 0.2
    lags, client = await _run(hooked)
    assert akool._config.WEBHOOK_POLL_POLICY.interval == client.poll_policy.interval
    assert max(lags) <= 0.5
    silent = Emulator(seed=8)
    silent.faults.latency = 0.2
    slow, _ = await _run(silent, webhooks=False)
    assert 4 == len(slow)
    assert min(slow) > 1.0


@pytest.mark.parametrize(
    "knobs",
    [
        {"webhook_duplicate_rate": 1.0},
        {"webhook_delay": 40.0},
        {"webhook_jitter": 20.0},
        {"webhook_drop_rate": 1.0},
        {"webhook_forge_rate": 1.0},
        {"webhook_drop_rate": 0.5, "webhook_duplicate_rate": 0.5, "webhook_forge_rate": 0.5},
    ],
)
async def test_imperfect_webhooks_change_nothing_but_timing(knobs: dict[str, Any]) -> None:
    """
    Duplicate, late, reordered, missing or forged webhooks never end a wait early or
    wrongly: every image's result arrives, after it completed, each paid for once.
    """
    emulator = Emulator(seed=9)
    emulator.faults.update(knobs)
    lags, client = await _run(emulator, count=6)
    assert 6 == len(lags)
    assert min(lags) >= 0.0
    assert 12 == emulator.charged()
    if knobs.get("webhook_forge_rate"):
        forged = [d for d in emulator.deliveries if d.kind == "forged"]
        assert forged
        assert client.webhooks.refused == len(forged)
    if knobs.get("webhook_drop_rate") == 1.0:
        assert 0 == client.webhooks.delivered


async def test_a_webhook_for_an_image_nobody_waits_for_sends_nothing() -> None:
    """
    A genuine webhook about an image no one waits for is opened and answered, and no
    poll is made for it.
    """
    emulator = Emulator(seed=10)
    async with make_client(emulator) as client:
        handle = await client.images.create("unwatched", webhook_url=HOOK)
        before = len(emulator.journal)
        body = emulator.webhooks.body(handle.task_id, 2)
        event = await client.webhooks.deliver(body)
    assert (handle.task_id, akool.ImageStatus.PROCESSING) == (event.id, event.status)
    assert before == len(emulator.journal)


def test_a_client_with_a_webhook_url_polls_slower_but_still_polls() -> None:
    """
    With a webhook URL the default policy is the slower webhook one, whose gaps are
    longer but bounded, so it never stops polling; without one, the default policy.
    """
    emulator = Emulator()
    hooked = make_client(emulator, webhook_url=HOOK).poll_policy
    plain = make_client(emulator).poll_policy
    assert (akool._config.WEBHOOK_POLL_POLICY, akool._config.DEFAULT_POLL_POLICY) == (
        hooked,
        plain,
    )
    assert plain.interval < hooked.interval <= hooked.max_interval < float("inf")
