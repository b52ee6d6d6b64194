from __future__ import annotations

import pytest

import a1art_async as a1
from a1art_async._config import normalize_origin


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://a1.art", "https://a1.art"),
        ("https://a1.art/", "https://a1.art"),
        ("https://a1.art/open-api/v1/a1", "https://a1.art"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://localhost:9", "http://localhost:9"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_origins(url: str, origin: str) -> None:
    """
    Base URLs reduce to their origin.
    """
    assert origin == normalize_origin(url)


@pytest.mark.parametrize(
    "url", ["http://a1.art", "http://10.0.0.5", "ftp://a1.art", "a1.art", "https://a1.art/other"]
)
def test_plain_http_off_loopback_and_odd_urls_are_refused(url: str) -> None:
    """
    The key must not cross a network in clear text: http is for loopback only.
    """
    with pytest.raises(a1.ValidationError) as caught:
        normalize_origin(url)
    assert "base_url" == caught.value.field
