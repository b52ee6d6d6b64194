"""
Fixed facts of the API and the client's defaults.
"""

from __future__ import annotations

from typing import Final, Literal

import httpx

from ._engine._client import origin_of

Region = Literal["global", "cn"]

#: The documented domains: ``https://a1.art``, and for China ``https://a1art.xiaopiu.com``.
API_ORIGINS: Final[dict[str, str]] = {
    "global": "https://a1.art",
    "cn": "https://a1art.xiaopiu.com",
}
API_PREFIX: Final = "/open-api/v1/a1"

DEFAULT_TIMEOUT: Final = httpx.Timeout(30.0, connect=10.0)
#: In-flight requests are bounded to the pool size, so none waits inside httpx's pool.
DEFAULT_LIMITS: Final = httpx.Limits(max_connections=64, max_keepalive_connections=64)

MAX_UPLOAD_BYTES: Final = 10 * 1024 * 1024
MAX_ENHANCE_SIDE: Final = 2048
MAX_GENERATE_NUM: Final = 4


def normalize_origin(base_url: str) -> str:
    """
    Check a base URL and reduce it to its origin (``scheme://host[:port]``).

    Plain ``http`` is refused except on loopback, where the emulator runs: the API key
    travels in a header and must not cross a network in clear text.

    Raises:
        ValidationError: For another scheme, a missing host, ``http`` off loopback, or a
            path other than the API's prefix.
    """
    return origin_of(base_url, prefix=API_PREFIX, example=API_ORIGINS["global"])
