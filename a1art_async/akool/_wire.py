"""
How the akool API's answers read: the ``{code, msg, data}`` envelope with 1000 for
success, and the ``x-api-key`` (or ``Authorization: Bearer``) header.

This is akool's side of the engine's seam (``_engine/_wire.py``'s ``EnvelopeWire``,
which classifies what every envelope API shares):

- 1000 is success (an HTTP error status with it is not an envelope to trust);
- HTTP 429 is refused for the rate (nothing was done; the docs list no code for it), as
  :class:`RateLimitError` whatever code came with it;
- 1108 ("please try again later") and HTTP 5xx are the service failing: a query is
  retried, a paid request's outcome is unknown; a 5xx with a code that does not say so
  itself is a :class:`ServerError`;
- every other code is a definitive answer about the request;
- a body that is not the envelope is the service failing, as for a1.art.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._engine._errors import A1ArtError
from .._engine._session import HeaderAuth, Secret
from .._engine._wire import EnvelopeWire, Reply
from ._errors import APIError, ImageOutcomeUnknown, RateLimitError, ServerError, api_error

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


class AkoolWire(EnvelopeWire):
    """
    Reads an akool answer into its ``data`` or a classified, typed refusal.
    """

    success = ("code", SUCCESS)
    rate_limited = RateLimitError
    too_many_requests = (429, "too many requests (HTTP 429)")

    def error(self, envelope: Mapping[str, Any], reply: Reply) -> APIError:
        code, msg = envelope["code"], envelope.get("msg")
        text = reply.redact(msg if isinstance(msg, str) else "")
        status, retry_after = reply.status, reply.retry_after
        if status == 429:
            return RateLimitError(code, text, status=status, retry_after=retry_after)
        error = api_error(code, text, status=status, retry_after=retry_after)
        if status >= 500 and not error.transient:
            return ServerError(code, text, status=status, retry_after=retry_after)
        return error

    def outcome_unknown(self, request: Any, cause: A1ArtError) -> A1ArtError:
        return ImageOutcomeUnknown(request, cause)
