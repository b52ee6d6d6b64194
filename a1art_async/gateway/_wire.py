"""
How the gateway's answers read: the ``{success, code, message, data}`` envelope with a
string ``code``, ``Authorization: Bearer`` credentials, 429 (with ``Retry-After``) for
"too many requests".

This is the gateway's side of the engine's seam (``_engine/_wire.py``'s
``EnvelopeWire``): the engine sends, retries, budgets and classifies what every envelope
API shares; this module only says how the envelope reads and which error each code is.

=====================================  =========================  ====================
answer                                 error                      the engine does
=====================================  =========================  ====================
``success: true``                      (its ``data``)             returns it
``"429"``, or HTTP 429                 :class:`RateLimitError`    waits, sends again
``"5xx"``, or HTTP 5xx                 :class:`ServerError`       retries a query;
not the envelope (HTML, broken JSON)   ``UnexpectedResponseError``  a generation is
                                                                  outcome-unknown
``"400"``, ``"401"``, any other code   its class                  raises
=====================================  =========================  ====================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._engine._errors import A1ArtError
from .._engine._session import HeaderAuth, Secret
from .._engine._wire import EnvelopeWire, Reply, json_envelope
from ._errors import APIError, GenerationOutcomeUnknown, RateLimitError, api_error


def auth(secret: Secret) -> HeaderAuth:
    """
    The credentials of every gateway request: ``Authorization: Bearer <key>``.
    """
    return HeaderAuth("Authorization", secret, prefix="Bearer ")


def load_envelope(body: bytes) -> dict[str, Any] | None:
    """
    The documented envelope, or ``None`` if the body is not one: a JSON object with a
    boolean ``success`` and a ``code`` (a string as documented; a number is read as
    its digits).
    """
    envelope = json_envelope(body, code=(str, int))
    if envelope is None or not isinstance(envelope.get("success"), bool):
        return None
    envelope["code"] = str(envelope["code"]).strip()
    return envelope


class GatewayWire(EnvelopeWire):
    """
    Reads a gateway answer into its ``data`` or a classified, typed refusal.
    """

    success = ("success", True)
    rate_limited = RateLimitError
    too_many_requests = ("429", "Rate limit exceeded (HTTP 429)")

    def envelope(self, body: bytes) -> dict[str, Any] | None:
        return load_envelope(body)

    def error(self, envelope: Mapping[str, Any], reply: Reply) -> APIError:
        message = envelope.get("message")
        return api_error(
            envelope["code"],
            reply.redact(message if isinstance(message, str) else ""),
            status=reply.status,
            retry_after=reply.retry_after,
        )

    def outcome_unknown(self, request: Any, cause: A1ArtError) -> A1ArtError:
        return GenerationOutcomeUnknown(request, cause)
