"""
How the a1.art Open API's answers read: the ``{code, msg, msg_cn, data}`` envelope with
0 for success, the ``apiKey`` header, and 20000 (or HTTP 429) for "too many requests".

This is a1.art's side of the engine's seam (``_engine/_session.py``'s ``Wire``): the
engine sends, retries and budgets; this module only says what one answer means.
"""

from __future__ import annotations

import json
from typing import Any

from ._engine._errors import A1ArtError
from ._engine._retry import Failure
from ._engine._session import HeaderAuth, Refused, Reply, Secret
from ._exceptions import (
    GenerationOutcomeUnknown,
    RateLimitError,
    ServerError,
    api_error,
)

#: The header the docs say carries the key.
KEY_HEADER = "apiKey"


def auth(secret: Secret) -> HeaderAuth:
    """
    The credentials of every a1.art request: ``apiKey: <key>``.
    """
    return HeaderAuth(KEY_HEADER, secret)


class A1ArtWire:
    """
    Reads an a1.art answer into its ``data`` or a classified, typed refusal.
    """

    def read(self, reply: Reply) -> Any:
        status = reply.status
        body = reply.body
        retry_after = reply.retry_after
        envelope = None if body is None else load_envelope(body)
        if envelope is None:
            if status == 429:
                error = RateLimitError(
                    20000, "too many requests (HTTP 429)", status=status, retry_after=retry_after
                )
                raise Refused(Failure.RATE_LIMITED, error, retry_after)
            raise reply.unexpected()
        code = envelope["code"]
        if code == 0:
            if status >= 400:
                raise reply.unexpected("an HTTP error with a success envelope")
            return envelope.get("data")
        msg, msg_cn = envelope.get("msg"), envelope.get("msg_cn")
        api = api_error(
            code,
            reply.redact(msg if isinstance(msg, str) else ""),
            reply.redact(msg_cn if isinstance(msg_cn, str) else ""),
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


def load_envelope(body: bytes) -> dict[str, Any] | None:
    """
    The documented envelope, or ``None`` if the body is not one.
    """
    try:
        envelope = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(envelope, dict):
        return None
    code = envelope.get("code")
    if isinstance(code, bool) or not isinstance(code, int):
        return None
    return envelope
