"""
Fixed facts of the API and the client's defaults.
"""

from __future__ import annotations

import ipaddress
from typing import Final, Literal

import httpx

from ._engine._errors import ValidationError

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


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_origin(base_url: str) -> str:
    """
    Check a base URL and reduce it to its origin (``scheme://host[:port]``).

    Plain ``http`` is refused except on loopback, where the emulator runs: the API key
    travels in a header and must not cross a network in clear text.

    Raises:
        ValidationError: For another scheme, a missing host, or ``http`` off loopback.
    """
    url = httpx.URL(base_url)
    if url.scheme not in ("https", "http") or not url.host:
        raise ValidationError("base_url", f"must be an https:// URL (got {base_url!r})")
    if url.scheme == "http" and not _is_loopback(url.host):
        raise ValidationError(
            "base_url", "plain http:// is only allowed for loopback hosts; use https://"
        )
    if url.path not in ("", "/") and url.path.rstrip("/") != API_PREFIX:
        raise ValidationError(
            "base_url", f"expected an origin such as https://a1.art, got {base_url!r}"
        )
    return str(url.copy_with(path="/", query=None, fragment=None)).rstrip("/")
