"""
Fixed facts of the akool image API, and the client's defaults.
"""

from __future__ import annotations

from typing import Final

import httpx

from .._engine._client import origin_of
from .._engine._errors import ValidationError
from .._engine._schedule import PollPolicy

#: The documented origin and the prefix of the three image endpoints.
API_ORIGIN: Final = "https://openapi.akool.com"
API_PREFIX: Final = "/api/open/v3/content/image"

#: The documented ``scale`` values; ``"1:1"`` is the default.
SCALES: Final = ("1:1", "4:3", "3:4", "16:9", "9:16", "3:2", "2:3")
#: U1-U4 make a 4K upscale of one of the four pictures, V1-V4 a variation of one.
BUTTONS: Final = ("U1", "U2", "U3", "U4", "V1", "V2", "V3", "V4")

#: The credits the docs' own answers show (``"deduction_credit": 2`` for a prompt and for
#: a button); the docs give no price list.
DOCUMENTED_CREDITS: Final = 2

DEFAULT_TIMEOUT: Final = httpx.Timeout(30.0, connect=10.0)
DEFAULT_LIMITS: Final = httpx.Limits(max_connections=64, max_keepalive_connections=64)

#: The docs give no advice on when to poll.  A first look after 5 s, then every 5 s for
#: two minutes (images take tens of seconds), then gaps growing to 30 s; a wait gives up
#: after 10 minutes.  Public scripts poll every 2-3 s.
DEFAULT_POLL_POLICY: Final = PollPolicy(
    first_delay=5.0, interval=5.0, steady_for=24.0, backoff=0.25, max_interval=30.0
)
#: With webhooks, polling is the fallback: it slows down but never stops, so a lost
#: webhook delays a result by at most about a minute.
WEBHOOK_POLL_POLICY: Final = PollPolicy(
    first_delay=15.0, interval=30.0, steady_for=8.0, backoff=0.25, max_interval=60.0
)


def normalize_origin(base_url: str) -> str:
    """
    Check a base URL and reduce it to its origin; plain ``http`` only on loopback.

    Raises:
        ValidationError: Another scheme, no host, ``http`` off loopback, or a path other
            than the API's prefix.
    """
    return origin_of(base_url, prefix=API_PREFIX, example=API_ORIGIN)


def check_webhook_url(value: object) -> str | None:
    """
    A ``webhook_url``: ``None``, or an absolute http(s) URL with a host.

    Raises:
        ValidationError: Anything else.
    """
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("webhook_url", f"must be an http(s) URL (got {value!r})")
    try:
        url = httpx.URL(value.strip())
    except httpx.InvalidURL:
        raise ValidationError("webhook_url", f"not a URL: {value!r}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValidationError("webhook_url", f"must be an http(s) URL (got {value!r})")
    return str(url)
