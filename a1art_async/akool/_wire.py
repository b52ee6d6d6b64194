"""
How the akool API's answers read: the ``{code, msg, data}`` envelope with 1000 for
success, and the ``x-api-key`` (or ``Authorization: Bearer``) header.

This is akool's side of the engine's seam (``_engine/_session.py``'s ``Wire``):

- 1000 is success (an HTTP error status with it is not an envelope to trust);
- HTTP 429 is refused for the rate (nothing was done; the docs list no code for it);
- 1108 ("please try again later") and HTTP 5xx are the service failing: a query is
  retried, a paid request's outcome is unknown;
- every other code is a definitive answer about the request;
- a body that is not the envelope is the service failing, as for a1.art.
"""

from __future__ import annotations

import json
from typing import Any

from .._engine._errors import A1ArtError
from .._engine._retry import Failure
from .._engine._session import HeaderAuth, Refused, Reply, Secret
from ._errors import ImageOutcomeUnknown, RateLimitError, ServerError, api_error

SUCCESS = 1000


def key_auth(secret: Secret) -> HeaderAuth:
    """
    ``x-api-key: <key>``.
    """
    return HeaderAuth("x-api-key", secret)


def token_auth(secret: Secret) -> HeaderAuth:
    """
    ``Authorization: Bearer <token>`` (the docs: it wins over ``x-api-key``, so only
    one of the two is ever sent).
    """
    return HeaderAuth("Authorization", secret, prefix="Bearer ")


class AkoolWire:
    """
    Reads an akool answer into its ``data`` or a classified, typed refusal.
    """

    def read(self, reply: Reply) -> Any:
        status = reply.status
        envelope = None if reply.body is None else load_envelope(reply.body)
        retry_after = reply.retry_after
        if envelope is None:
            if status == 429:
                limited = RateLimitError(
                    429, "too many requests (HTTP 429)", status=status, retry_after=retry_after
                )
                raise Refused(Failure.RATE_LIMITED, limited, retry_after)
            raise reply.unexpected()
        code = envelope["code"]
        if code == SUCCESS:
            if status >= 400:
                raise reply.unexpected("an HTTP error with a success envelope")
            return envelope.get("data")
        msg = envelope.get("msg")
        text = reply.redact(msg if isinstance(msg, str) else "")
        if status == 429:
            raise Refused(
                Failure.RATE_LIMITED,
                RateLimitError(code, text, status=status, retry_after=retry_after),
                retry_after,
            )
        error = api_error(code, text, status=status, retry_after=retry_after)
        if status >= 500:
            if not error.transient:
                error = ServerError(code, text, status=status, retry_after=retry_after)
            raise Refused(Failure.SERVER_FAILED, error, retry_after)
        if error.transient:
            raise Refused(Failure.SERVER_FAILED, error, retry_after)
        raise Refused(Failure.REJECTED, error)

    def outcome_unknown(self, request: Any, cause: A1ArtError) -> A1ArtError:
        return ImageOutcomeUnknown(request, cause)


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
