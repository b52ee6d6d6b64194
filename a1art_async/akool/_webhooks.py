"""
akool's webhooks: verify, decrypt, and turn them into "poll this image now".

akool POSTs ``{signature, dataEncrypt, timestamp, nonce}`` to a request's
``webhookUrl``.  ``dataEncrypt`` is base64 of AES-CBC (PKCS#7 padding) over the JSON
``{_id, status, type, url}``, with the client secret (the API key; 24 characters, so
AES-192) as key and the ``clientId`` (16 characters) as IV; ``signature`` is the hex
SHA-1 of the sorted concatenation of clientId, timestamp, nonce and dataEncrypt.

That signature is unkeyed, over values that are not secret: anyone who knows the client
id can sign a body.  Only a body that also decrypts under the key can be from akool, and
even then it is a hint, not a result: :meth:`Webhooks.deliver` makes the scheduler poll
that image at once, and the result comes from that authenticated poll.  Duplicate,
late, reordered or missing webhooks change nothing but timing.

The decryption needs the ``akool`` extra (``cryptography``); without it :func:`open`
raises ``ImportError`` naming it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Final

import attrs

from .._engine._logging import logger
from ._errors import WebhookError
from ._models import ImageStatus

if TYPE_CHECKING:
    from .._engine._scheduler import Scheduler
    from .._engine._session import Secret
    from ._models import Image

INSTALL_HINT: Final = (
    "akool webhooks need the cryptography package: pip install -e '.[akool]' "
    "(or pip install 'a1art-async[akool]')"
)
#: A webhook body is a few hundred bytes; the ASGI endpoint reads no more than this.
MAX_BODY_BYTES: Final = 64 * 1024

Body = bytes | str | Mapping[str, Any]


@attrs.frozen
class WebhookEvent:
    """
    One verified, decrypted webhook: a hint that an image changed.

    Attributes:
        id: The image's ``_id``.
        status: Its status as the webhook says it (2, 3 or 4).
        type: What kind of job, as sent (``"image"`` for images).
        url: The result URL when the status is 3.
        timestamp: The body's ``timestamp``, as sent (milliseconds).
        nonce: The body's ``nonce``.
    """

    id: str
    status: ImageStatus
    type: str
    url: str | None
    timestamp: str
    nonce: str


def signature(client_id: str, timestamp: str, nonce: str, data_encrypt: str) -> str:
    """
    The documented signature: hex SHA-1 of the four values sorted and concatenated.
    """
    joined = "".join(sorted((client_id, timestamp, nonce, data_encrypt)))
    return hashlib.sha1(joined.encode(), usedforsecurity=False).hexdigest()


def _cipher(api_key: str, client_id: str) -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    key, iv = api_key.encode(), client_id.encode()
    if len(key) not in (16, 24, 32):
        raise WebhookError(
            f"the API key is {len(key)} bytes; AES needs 16, 24 or 32 (akool's are 24)"
        )
    if len(iv) != 16:
        raise WebhookError(f"the client id is {len(iv)} bytes; it is the AES IV and needs 16")
    return Cipher(algorithms.AES(key), modes.CBC(iv))


def _unpad(data: bytes) -> bytes:
    # PKCS#7 over AES's 16-byte blocks; the docs describe padding to 24 (the key size),
    # so pads of up to 32 bytes are taken when every byte of them agrees.
    if not data:
        raise WebhookError("dataEncrypt is empty")
    pad = data[-1]
    if not 1 <= pad <= min(32, len(data)) or data[-pad:] != bytes([pad]) * pad:
        raise WebhookError("dataEncrypt does not decrypt with this key and client id")
    return data[:-pad]


def _field(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise WebhookError(f"the webhook body has no {name}")
    return str(value)


def _parse(body: Body) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        return body
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise WebhookError("the webhook body is not JSON") from None
    if not isinstance(parsed, dict):
        raise WebhookError("the webhook body is not a JSON object")
    return parsed


def open(body: Body, *, api_key: str, client_id: str) -> WebhookEvent:
    """
    Verify and decrypt one webhook body.

    Args:
        body: The raw request body (bytes or str) or its parsed JSON object.
        api_key: The client secret (the API key) that encrypted it.
        client_id: The client id: the IV, and part of the signature.

    Returns:
        The event.

    Raises:
        WebhookError: Not the documented body, a signature that does not match, or
            ``dataEncrypt`` that does not decrypt to the documented JSON.
        ImportError: Without the ``akool`` extra (``cryptography``).
    """
    if not isinstance(api_key, str) or not api_key or not isinstance(client_id, str):
        raise WebhookError("opening webhooks needs the API key and the client id")
    fields = _parse(body)
    given = _field(fields, "signature")
    data_encrypt = _field(fields, "dataEncrypt")
    timestamp, nonce = _field(fields, "timestamp"), _field(fields, "nonce")
    expected = signature(client_id, timestamp, nonce, data_encrypt)
    if not hmac.compare_digest(expected, given.lower()):
        raise WebhookError("the webhook's signature does not match: forged or tampered")
    cipher = _cipher(api_key, client_id)
    try:
        sealed = base64.b64decode(data_encrypt, validate=True)
    except (binascii.Error, ValueError):
        raise WebhookError("dataEncrypt is not base64") from None
    if not sealed or len(sealed) % 16:
        raise WebhookError("dataEncrypt is not whole AES blocks")
    decryptor = cipher.decryptor()
    plain = _unpad(decryptor.update(sealed) + decryptor.finalize())
    try:
        data = json.loads(plain)
    except (ValueError, UnicodeDecodeError):
        raise WebhookError("dataEncrypt does not decrypt with this key and client id") from None
    if not isinstance(data, dict):
        raise WebhookError("the decrypted webhook is not a JSON object")
    image_id = data.get("_id")
    if not isinstance(image_id, str) or not image_id:
        raise WebhookError("the decrypted webhook has no _id")
    raw = data.get("status")
    known = {int(status) for status in ImageStatus}
    if isinstance(raw, bool) or not isinstance(raw, int) or raw not in known:
        raise WebhookError(f"the decrypted webhook has an unknown status {raw!r}")
    status = ImageStatus(raw)
    url = data.get("url")
    kind = data.get("type")
    return WebhookEvent(
        id=image_id,
        status=status,
        type="" if kind is None else str(kind),
        url=url if isinstance(url, str) and url else None,
        timestamp=timestamp,
        nonce=nonce,
    )


class Webhooks:
    """
    ``client.webhooks``: open webhook bodies with the client's key and client id, and
    turn them into immediate polls.
    """

    def __init__(
        self, api_key: Secret | None, client_id: str | None, scheduler: Scheduler[Image]
    ) -> None:
        self._api_key = api_key
        self._client_id = client_id
        self._scheduler = scheduler
        #: Webhooks delivered and refused so far.
        self.delivered = 0
        self.refused = 0

    def open(self, body: Body) -> WebhookEvent:
        """
        :func:`open` with this client's key and client id.

        Raises:
            WebhookError: A forged, tampered or unreadable body, or a client without an
                API key or client id (``AKOOL_CLIENT_ID``).
        """
        if not self._api_key or not self._client_id:
            raise WebhookError(
                "opening webhooks needs the API key and the client id "
                "(api_key=, client_id= or AKOOL_API_KEY, AKOOL_CLIENT_ID)"
            )
        return open(body, api_key=self._api_key.reveal(), client_id=self._client_id)

    async def deliver(self, body: Body) -> WebhookEvent:
        """
        Open a webhook and have the scheduler poll its image now (if anybody waits for
        it); the result comes from that poll, never from the webhook.

        Raises:
            WebhookError: The body cannot be trusted or read; nothing was done.
        """
        try:
            event = self.open(body)
        except WebhookError as error:
            self.refused += 1
            logger.info("webhook refused: %s", error)
            raise
        self.delivered += 1
        logger.debug("webhook: image %s is %s", event.id, event.status)
        self._scheduler.poke(event.id)
        return event

    def asgi(self) -> Callable[..., Awaitable[None]]:
        """
        A small ASGI 3 app for a ``webhookUrl``: ``POST`` a body, get 200 once it is
        opened and handed to the scheduler, 400 for a body that cannot be trusted (akool
        retries what does not get 200), 405 for other methods, 413 past 64 KiB.
        """
        return _WebhookApp(self)


class _WebhookApp:
    def __init__(self, webhooks: Webhooks) -> None:
        self._webhooks = webhooks

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
        send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope.get("method") != "POST":
            await _answer(send, 405, {"error": "POST a webhook body"})
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= MAX_BODY_BYTES:
                chunks.append(chunk)
            if not message.get("more_body"):
                break
        if size > MAX_BODY_BYTES:  # read to the end (and dropped), then refused
            await _answer(send, 413, {"error": "the body is too large for a webhook"})
            return
        try:
            event = await self._webhooks.deliver(b"".join(chunks))
        except WebhookError as error:
            await _answer(send, 400, {"error": str(error)})
            return
        await _answer(send, 200, {"ok": True, "id": event.id})


async def _answer(
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]], status: int, body: object
) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
