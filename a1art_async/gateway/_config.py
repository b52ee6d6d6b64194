"""
Fixed facts of the gateway's API and the client's defaults.
"""

from __future__ import annotations

import math
from typing import Final

import httpx

from .._engine._client import check_base_url
from .._engine._errors import ValidationError

#: Where the key comes from when ``api_key`` is not passed.
KEY_VARIABLE: Final = "GATEWAY_API_KEY"
#: Where the base URL comes from when ``base_url`` is not passed; the docs give none.
BASE_URL_VARIABLE: Final = "GATEWAY_BASE_URL"
#: Every documented path starts here, after ``{BASE_URL}``.
API_PREFIX: Final = "/api/v1"

#: Queries: an answer within 30 s, a connection within 10 s.
DEFAULT_TIMEOUT: Final = httpx.Timeout(30.0, connect=10.0)
#: A generation request's read timeout.  For a synchronous model the request is the
#: whole (paid) generation, and vendors take from a few seconds to a couple of minutes
#: for an image; waiting five minutes costs nothing, giving up early loses the result.
DEFAULT_SYNC_TIMEOUT: Final = 300.0
#: In-flight requests are bounded to the pool size, so none waits inside httpx's pool.
DEFAULT_LIMITS: Final = httpx.Limits(max_connections=64, max_keepalive_connections=64)


def normalize_base_url(base_url: str) -> str:
    """
    Check the gateway's ``{BASE_URL}`` and spell it one way: scheme, host, port and any
    path prefix, without a trailing slash (and without ``/api/v1``, which every path
    adds).

    Plain ``http`` is refused except on loopback, where an emulator runs: the key travels
    in a header and must not cross a network in clear text.

    Raises:
        ValidationError: For another scheme, a missing host, credentials, a query or a
            fragment, or ``http`` off loopback.
    """
    if not isinstance(base_url, str) or not base_url.strip():
        raise ValidationError("base_url", "must be the gateway's https:// URL")
    url = check_base_url(base_url.strip())
    if url.query or url.fragment or url.userinfo:
        # Credentials go in the Authorization header only, never in a URL.
        raise ValidationError("base_url", "must not have credentials, a query or a fragment")
    path = url.path.rstrip("/").removesuffix(API_PREFIX).rstrip("/")
    return str(url.copy_with(path=path or "/")).rstrip("/")


def finite_seconds(field: str, value: object) -> float:
    """
    A positive, finite number of seconds.

    Raises:
        ValidationError: Anything else, naming *field*.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValidationError(field, f"must be a positive number of seconds, got {value!r}")
    return float(value)
