"""
The emulator's building blocks: generated media, sniffing, form parsing, rate limiting.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from a1art_async.testing import jpeg_bytes, mp4_bytes, png_bytes
from a1art_async.testing._files import dimensions, sniff
from a1art_async.testing._multipart import parse_form
from a1art_async.testing._ratelimit import RateLimiter

sides = st.integers(min_value=1, max_value=400)


@given(width=sides, height=sides)
def test_png_dimensions_round_trip(width: int, height: int) -> None:
    """
    Every generated PNG sniffs as PNG and reads back its own size.
    """
    data = png_bytes(width, height)
    assert "png" == sniff(data)
    assert (width, height) == dimensions(data)


@given(width=sides, height=sides)
def test_jpeg_dimensions_round_trip(width: int, height: int) -> None:
    """
    Every generated JPEG sniffs as JPEG, is framed by SOI/EOI and reads back its size.
    """
    data = jpeg_bytes(width, height)
    assert "jpeg" == sniff(data)
    assert (b"\xff\xd8", b"\xff\xd9") == (data[:2], data[-2:])
    assert (width, height) == dimensions(data)


@given(cut=st.integers(min_value=0, max_value=32))
def test_truncated_png_headers_are_unreadable(cut: int) -> None:
    """
    A PNG cut anywhere inside its IHDR chunk has no readable size.
    """
    assert dimensions(png_bytes()[:cut]) is None


def test_png_is_small_even_when_large() -> None:
    """
    A 4096x4096 solid PNG stays tiny, so size-limit tests need no big fixtures.
    """
    assert len(png_bytes(4096, 4096)) < 100_000


@pytest.mark.parametrize(
    ("make", "args"),
    [(png_bytes, (0, 5)), (png_bytes, (5, -1)), (jpeg_bytes, (0, 1)), (jpeg_bytes, (1, 70000))],
)
def test_impossible_sizes_are_refused(make: object, args: tuple[int, int]) -> None:
    """
    Image generators refuse empty or unencodable sizes.
    """
    with pytest.raises(ValueError, match="dimensions"):
        make(*args)  # type: ignore[operator]


def test_mp4_has_an_ftyp_box_and_is_no_image() -> None:
    """
    The generated MP4 starts with an ``ftyp`` box and is not mistaken for an image.
    """
    data = mp4_bytes()
    assert (b"ftyp", b"isom") == (data[4:8], data[8:12])
    assert sniff(data) is None


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"GIF87a" + bytes(10), "gif"),
        (b"GIF89a" + bytes(10), "gif"),
        (b"RIFF" + struct.pack("<I", 4) + b"WEBP" + bytes(8), "webp"),
        (b"BM" + bytes(30), "bmp"),
        (b"II*\x00" + bytes(8), "tiff"),
        (b"MM\x00*" + bytes(8), "tiff"),
        (struct.pack(">I", 24) + b"ftypheic" + bytes(8), "heif"),
        (struct.pack(">I", 24) + b"ftypavif" + bytes(8), "heif"),
        (b"BM", None),
        (b"hello", None),
        (b"", None),
    ],
)
def test_sniff_names_image_formats(data: bytes, kind: str | None) -> None:
    """
    Sniffing recognises common image formats by magic bytes and nothing else.
    """
    assert kind == sniff(data)


def test_multipart_parts_carry_names_filenames_and_bytes() -> None:
    """
    Form parts keep their field name, file name (quoted or RFC 5987) and exact bytes.
    """
    body = (
        b"preamble\r\n--b\r\n"
        b'Content-Disposition: form-data; name="file"; filename="a \\"b\\".png"\r\n'
        b"Content-Type: image/png\r\n\r\n\x89PNG\r\n\r\n--b\r\n"
        b"content-disposition: form-data; name=\"f2\"; filename*=UTF-8''%C3%A9t%C3%A9.png\r\n"
        b"\r\nxy\r\n--b\r\n"
        b"no header separator\r\n--b\r\n"
        b'Content-Disposition: form-data; name="imageUrl"\r\n\r\nhttps://x/y.png\r\n'
        b"--b--\r\nepilogue"
    )
    parts = parse_form("multipart/form-data; boundary=b", body)
    assert [
        ("file", 'a "b".png', b"\x89PNG\r\n"),
        ("f2", "été.png", b"xy"),
        ("imageUrl", None, b"https://x/y.png"),
    ] == [(p.name, p.filename, p.data) for p in parts]


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "multipart/form-data", "multipart/mixed; boundary=b"],
)
def test_non_form_bodies_have_no_parts(content_type: str | None) -> None:
    """
    Without a multipart/form-data type and boundary there are no parts.
    """
    assert [] == parse_form(content_type, b"--b\r\n\r\nx\r\n--b--")


def test_rate_limiter_refills_at_the_current_rate() -> None:
    """
    A bucket of 2 at 2/s allows a burst of 2, says how long to wait, then refills;
    slow rates get a burst of 1 and a Retry-After of whole seconds.
    """
    limiter = RateLimiter()
    assert [None, None, 1] == [limiter.acquire("k", 2.0, 0.0) for _ in range(3)]
    assert limiter.acquire("k", 2.0, 0.5) is None
    assert 1 == limiter.acquire("k", 2.0, 0.5)
    assert limiter.acquire("other", 2.0, 0.5) is None
    assert [None, 4] == [limiter.acquire("slow", 0.25, 0.0) for _ in range(2)]
