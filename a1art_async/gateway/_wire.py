"""
How the gateway's answers read: the ``{success, code, message, data}`` envelope with a
string ``code``, ``Authorization: Bearer`` credentials, 429 (with ``Retry-After``) for
"too many requests".

This is the gateway's side of the engine's seam (``_engine/_session.py``'s ``Wire``):
the engine sends, retries and budgets; this module only says what one answer means.

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

import json
from typing import Any

from .._engine._errors import A1ArtError
from .._engine._retry import Failure
from .._engine._session import HeaderAuth, Refused, Reply, Secret
from ._errors import GenerationOutcomeUnknown, RateLimitError, ServerError, api_error


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
    try:
        envelope = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("success"), bool):
        return None
    code = envelope.get("code")
    if isinstance(code, bool) or not isinstance(code, str | int):
        return None
    envelope["code"] = str(code).strip()
    return envelope


class GatewayWire:
    """
    Reads a gateway answer into its ``data`` or a classified, typed refusal.
    """

    def read(self, reply: Reply) -> Any:
        status = reply.status
        retry_after = reply.retry_after
        envelope = None if reply.body is None else load_envelope(reply.body)
        if envelope is None:
            if status == 429:
                error = RateLimitError(
                    "429", "Rate limit exceeded (HTTP 429)", status=status, retry_after=retry_after
                )
                raise Refused(Failure.RATE_LIMITED, error, retry_after)
            raise reply.unexpected()
        if envelope["success"]:
            if status >= 400:
                raise reply.unexpected("an HTTP error with a success envelope")
            return envelope.get("data")
        message = envelope.get("message")
        api = api_error(
            envelope["code"],
            reply.redact(message if isinstance(message, str) else ""),
            status=status,
            retry_after=retry_after,
        )
        if isinstance(api, RateLimitError) or status == 429:
            raise Refused(Failure.RATE_LIMITED, api, retry_after)
        if isinstance(api, ServerError) or status >= 500:
            raise Refused(Failure.SERVER_FAILED, api, retry_after)
        raise Refused(Failure.REJECTED, api)

    def outcome_unknown(self, request: Any, cause: A1ArtError) -> A1ArtError:
        return GenerationOutcomeUnknown(request, cause)
