"""
How the a1.art Open API's answers read: the ``{code, msg, msg_cn, data}`` envelope with
0 for success, the ``apiKey`` header, and 20000 (or HTTP 429) for "too many requests".

This is a1.art's side of the engine's seam (``_engine/_wire.py``'s ``EnvelopeWire``):
the engine sends, retries, budgets and classifies 429s, 5xx and bodies that are not the
envelope; this module only says how the envelope reads and which error each code is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._engine._errors import A1ArtError, APIError
from ._engine._session import HeaderAuth, Secret
from ._engine._wire import EnvelopeWire, Reply
from ._exceptions import GenerationOutcomeUnknown, RateLimitError, api_error

#: The header the docs say carries the key.
KEY_HEADER = "apiKey"


def auth(secret: Secret) -> HeaderAuth:
    """
    The credentials of every a1.art request: ``apiKey: <key>``.
    """
    return HeaderAuth(KEY_HEADER, secret)


class A1ArtWire(EnvelopeWire):
    """
    Reads an a1.art answer into its ``data`` or a classified, typed refusal: 0 is
    success, 20000 (:class:`RateLimitError`) is refused for the rate, 20002 and 20003
    (:class:`ServerError`, transient) are the server failing, other codes are rejected.
    """

    success = ("code", 0)
    rate_limited = RateLimitError
    too_many_requests = (20000, "too many requests (HTTP 429)")

    def error(self, envelope: Mapping[str, Any], reply: Reply) -> APIError:
        msg, msg_cn = envelope.get("msg"), envelope.get("msg_cn")
        return api_error(
            envelope["code"],
            reply.redact(msg if isinstance(msg, str) else ""),
            reply.redact(msg_cn if isinstance(msg_cn, str) else ""),
            status=reply.status,
            retry_after=reply.retry_after,
        )

    def outcome_unknown(self, request: Any, cause: A1ArtError) -> A1ArtError:
        return GenerationOutcomeUnknown(request, cause)
