"""
The emulator's building blocks: generated media, sniffing, the PNG codec, form parsing,
rate limiting.
"""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from a1art_async.testing import jpeg_bytes, mp4_bytes, png_bytes
from a1art_async.testing._kit._files import Pixels, decode_png, dimensions, encode_png, sniff
from a1art_async.testing._kit._multipart import parse_form
from a1art_async.testing._kit._ratelimit import RateLimiter

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


# -- the PNG decoder, against a reference encoder written from the PNG specification ----

_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_FORMATS = [(0, 1), (0, 2), (0, 4), (0, 8), (0, 16), (2, 8), (2, 16), (3, 1), (3, 2), (3, 4),
            (3, 8), (4, 8), (4, 16), (6, 8), (6, 16)]  # fmt: skip


def _predict(kind: int, a: int, b: int, c: int) -> int:
    if kind == 0:
        return 0
    if kind == 1:
        return a
    if kind == 2:
        return b
    if kind == 3:
        return (a + b) // 2
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _pack(samples: list[int], depth: int) -> bytes:
    if depth == 16:
        return b"".join(v.to_bytes(2, "big") for v in samples)
    if depth == 8:
        return bytes(samples)
    bits = "".join(format(v, f"0{depth}b") for v in samples)
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits), 8))


def _reference_png(
    width: int,
    colour: int,
    depth: int,
    rows: list[list[int]],
    filters: list[int],
    palette: bytes = b"",
) -> bytes:
    """
    Encode sample rows with the given filter per row, as the PNG specification defines.
    """
    bpp = max(1, _CHANNELS[colour] * depth // 8)
    previous = bytes(len(_pack(rows[0], depth)))
    body = b""
    for samples, kind in zip(rows, filters, strict=True):
        line = _pack(samples, depth)
        filtered = bytes(
            (x - _predict(
                kind,
                line[i - bpp] if i >= bpp else 0,
                previous[i],
                previous[i - bpp] if i >= bpp else 0,
            )) & 0xFF
            for i, x in enumerate(line)
        )  # fmt: skip
        body += bytes([kind]) + filtered
        previous = line

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, len(rows), depth, colour, 0, 0, 0)
    extra = chunk(b"PLTE", palette) if colour == 3 else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + extra
        + chunk(b"IDAT", zlib.compress(body))
        + chunk(b"IEND", b"")
    )


def _expected_rgb(colour: int, depth: int, samples: list[int], palette: bytes) -> bytes:
    channels = _CHANNELS[colour]
    out = b""
    for x in range(len(samples) // channels):
        pixel = samples[x * channels : (x + 1) * channels]
        if colour == 3:
            out += palette[3 * pixel[0] : 3 * pixel[0] + 3]
            continue
        values = [v >> 8 if depth == 16 else v * 255 // (2**depth - 1) for v in pixel]
        out += bytes(values[:3]) if channels >= 3 else bytes([values[0]] * 3)
    return out


@st.composite
def _pictures(draw: st.DrawFn) -> tuple[bytes, Pixels]:
    colour, depth = draw(st.sampled_from(_FORMATS))
    width, height = draw(st.integers(1, 9)), draw(st.integers(1, 5))
    top = 2**depth - 1
    palette = (
        draw(st.binary(min_size=3 * (top + 1), max_size=3 * (top + 1))) if colour == 3 else b""
    )
    samples = st.lists(
        st.integers(0, top), min_size=width * _CHANNELS[colour], max_size=width * _CHANNELS[colour]
    )
    rows = draw(st.lists(samples, min_size=height, max_size=height))
    filters = draw(st.lists(st.integers(0, 4), min_size=height, max_size=height))
    data = _reference_png(width, colour, depth, rows, filters, palette)
    expected = tuple(_expected_rgb(colour, depth, row, palette) for row in rows)
    return data, Pixels(width, height, expected)


@given(picture=_pictures())
def test_the_png_decoder_reads_every_colour_type_depth_and_filter(
    picture: tuple[bytes, Pixels],
) -> None:
    """
    Any non-interlaced PNG, whatever its colour type, bit depth and row filters, decodes
    to the RGB pixels it holds (alpha dropped, 16-bit samples by their high byte).
    """
    data, expected = picture
    assert expected == decode_png(data)


def test_the_png_decoder_shrinks_large_pictures() -> None:
    """
    A picture larger than ``max_side`` comes back shrunk by a whole step, every pixel kept
    from the source.
    """
    assert Pixels(100, 50, (b"\x10\x20\x30" * 100,) * 50) == decode_png(
        png_bytes(1000, 500, (16, 32, 48)), max_side=100
    )


def test_pixels_round_trip_through_the_encoder() -> None:
    """
    What ``encode_png`` writes, ``decode_png`` reads back unchanged.
    """
    pixels = Pixels(3, 2, (bytes(range(9)), bytes(range(100, 109))))
    data = encode_png(pixels)
    assert (3, 2) == dimensions(data)
    assert pixels == decode_png(data)


def test_unreadable_pngs_decode_to_nothing() -> None:
    """
    An interlaced PNG, a cut one, a JPEG and a PNG over the budget all decode to None.
    """
    data = png_bytes(20, 20)
    interlaced = bytearray(data)
    interlaced[28] = 1
    interlaced[29:33] = struct.pack(">I", zlib.crc32(bytes(interlaced[12:29])))
    assert [None, None, None, None] == [
        decode_png(bytes(interlaced)),
        decode_png(data[:40]),
        decode_png(jpeg_bytes()),
        decode_png(data, budget=20 * 61 - 1),
    ]
    assert decode_png(data, budget=20 * 61) is not None
