"""
The webhooks the emulator sends: each image with a ``webhookUrl`` is announced when it
starts processing (status 2) and when it ends (3 or 4), at the times drawn when it was
created, sealed as akool documents (see ``_seal.py``), through the webhook knobs (drop,
duplicate, delay, jitter, forge).  An answer other than 200 is retried twice, 5 s apart
(times the emulator's time scale): "we will retry", say the docs, without saying how.

Sending needs a running event loop: ``async with emulator.sending_webhooks(...):``.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final, Literal, Protocol

import anyio
import attrs
import httpx
from anyio.abc import TaskGroup

from ._faults import Faults
from ._records import Account, ImageRecord
from ._seal import seal


class Host(Protocol):
    """
    What the sender needs of its emulator.
    """

    @property
    def faults(self) -> Faults: ...

    @property
    def time_scale(self) -> float: ...

    def now(self) -> float: ...

    def draw(self, probability: float) -> bool: ...

    def image_record(self, image_id: str) -> ImageRecord: ...

    def account(self, key: str) -> Account: ...

    def result_url(self, image_id: str) -> str: ...

    def epoch_ms(self, when: float) -> float: ...


Receiver = Callable[[str, bytes], Awaitable[int]]
"""Delivers a body to a URL and returns the HTTP status it was answered with."""

Kind = Literal["real", "duplicate", "forged"]

_RETRIES: Final = 2
_RETRY_AFTER: Final = 5.0
_FORGERY_KEY: Final = "not-the-key-of-the-user!"  # 24 bytes, like a real one


@attrs.frozen
class WebhookDelivery:
    """
    One webhook the emulator sent, or meant to.

    Attributes:
        time: Emulator time it was sent (or dropped).
        url: Where to.
        image_id: The image it announces.
        status: The status it announces.
        kind: ``real``, ``duplicate`` (a second copy) or ``forged``.
        outcome: ``sent``, ``dropped`` (the drop knob), ``refused`` (not answered 200
            after the retries) or ``unreachable`` (the receiver raised).
        http_status: The receiver's answer, when it gave one.
    """

    time: float
    url: str
    image_id: str
    status: int
    kind: Kind
    outcome: str
    http_status: int | None = None


class WebhookSender:
    """
    Sends the webhooks due; see the module's docstring.
    """

    def __init__(self, emulator: Host, seed: int) -> None:
        self._emulator = emulator
        self._due: list[tuple[float, int, str, int]] = []
        self._order = itertools.count()
        self._rng = random.Random(f"{seed}:webhooks")
        self._wake: anyio.Event | None = None
        self.deliveries: list[WebhookDelivery] = []

    def plan(self, image_id: str, status: int, when: float) -> None:
        """
        Announce *status* of *image_id* at emulator time *when*.
        """
        heapq.heappush(self._due, (when, next(self._order), image_id, status))
        if self._wake is not None:
            self._wake.set()

    @contextlib.asynccontextmanager
    async def running(self, receiver: Receiver) -> AsyncIterator[None]:
        async with anyio.create_task_group() as group:
            group.start_soon(self._loop, group, receiver)
            try:
                yield
            finally:
                group.cancel_scope.cancel()

    async def _loop(self, group: TaskGroup, receiver: Receiver) -> None:
        emulator = self._emulator
        while True:
            self._wake = anyio.Event()
            now = emulator.now()
            while self._due and self._due[0][0] <= now:
                _, _, image_id, status = heapq.heappop(self._due)
                self._dispatch(group, receiver, image_id, status)
            if self._due:
                with anyio.move_on_after(self._due[0][0] - now):
                    await self._wake.wait()
            else:
                await self._wake.wait()

    def _dispatch(self, group: TaskGroup, receiver: Receiver, image_id: str, status: int) -> None:
        emulator = self._emulator
        record = emulator.image_record(image_id)
        url = record.webhook_url
        if url is None:
            return
        faults = emulator.faults
        if emulator.draw(faults.webhook_drop_rate):
            self.deliveries.append(
                WebhookDelivery(emulator.now(), url, image_id, status, "real", "dropped")
            )
            return
        copies: list[Kind] = ["real"]
        if emulator.draw(faults.webhook_duplicate_rate):
            copies.append("duplicate")
        if emulator.draw(faults.webhook_forge_rate):
            copies.append("forged")
        for kind in copies:
            delay = faults.webhook_delay
            if faults.webhook_jitter > 0:
                delay += self._rng.uniform(0.0, faults.webhook_jitter)
            group.start_soon(self._send, receiver, url, image_id, status, kind, delay)

    def body(self, image_id: str, status: int, *, kind: Kind = "real") -> bytes:
        """
        The sealed body announcing *status* of *image_id* (``forged``: claiming it
        completed, with another key or a tampered ciphertext).
        """
        emulator = self._emulator
        record = emulator.image_record(image_id)
        account = emulator.account(record.key)
        claimed = 3 if kind == "forged" else status
        data = {
            "_id": image_id,
            "status": claimed,
            "type": "image",
            "url": emulator.result_url(image_id) if claimed == 3 else "",
        }
        timestamp = int(emulator.epoch_ms(emulator.now()))
        nonce = str(self._rng.randrange(1000, 10000))
        key = account.key
        tamper = False
        if kind == "forged":
            tamper = self._rng.random() < 0.5
            key = account.key if tamper else _FORGERY_KEY
        sealed = seal(
            data, api_key=key, client_id=account.client_id, timestamp=timestamp, nonce=nonce
        )
        if tamper:
            text = sealed["dataEncrypt"]
            sealed["dataEncrypt"] = ("B" if text[0] == "A" else "A") + text[1:]
        return json.dumps(sealed).encode()

    async def _send(
        self,
        receiver: Receiver,
        url: str,
        image_id: str,
        status: int,
        kind: Kind,
        delay: float,
    ) -> None:
        emulator = self._emulator
        if delay > 0:
            await anyio.sleep(delay)
        body = self.body(image_id, status, kind=kind)
        answer: int | None = None
        outcome = "refused"
        for attempt in range(_RETRIES + 1):
            if attempt:
                await anyio.sleep(_RETRY_AFTER * emulator.time_scale)
            try:
                answer = await receiver(url, body)
            except (httpx.HTTPError, OSError):
                answer, outcome = None, "unreachable"
                continue
            if answer == 200 or kind == "forged":
                outcome = "sent"
                break
        self.deliveries.append(
            WebhookDelivery(emulator.now(), url, image_id, status, kind, outcome, answer)
        )


def http_receiver(client: httpx.AsyncClient) -> Receiver:
    """
    POST each body as JSON with *client* (any URL, or an ASGI app through its
    transport); the answer's status comes back.
    """

    async def post(url: str, body: bytes) -> int:
        response = await client.post(
            url, content=body, headers={"content-type": "application/json"}
        )
        return response.status_code

    return post
