from __future__ import annotations

import io
from pathlib import Path

import pytest

import a1art_async as a1
from a1art_async._image_input import LocalImage, RemoteImage, read_image, sniff

from ._images import GIF, WEBP, jpeg, png


@pytest.mark.anyio
async def test_png_bytes_are_named_by_content() -> None:
    """
    Bytes are sniffed, measured and given a file name matching their format.
    """
    image = await read_image(png(30, 20))
    assert isinstance(image, LocalImage)
    assert ("image.png", "image/png", 30, 20) == (
        image.filename,
        image.content_type,
        image.width,
        image.height,
    )


@pytest.mark.anyio
async def test_path_with_a_misleading_suffix_is_named_by_content(tmp_path: Path) -> None:
    """
    A JPEG saved as .png is uploaded as .jpg: the content decides.
    """
    path = tmp_path / "cat.png"
    path.write_bytes(jpeg(10, 12))
    image = await read_image(path)
    assert isinstance(image, LocalImage)
    assert ("cat.jpg", "image/jpeg", 10, 12) == (
        image.filename,
        image.content_type,
        image.width,
        image.height,
    )


@pytest.mark.anyio
async def test_binary_file_object() -> None:
    """
    A binary file object is read (at most 10 MB + 1 byte) and checked.
    """
    image = await read_image(io.BytesIO(png(5, 5)))
    assert isinstance(image, LocalImage)
    assert 5 == image.width


@pytest.mark.anyio
@pytest.mark.parametrize("url", ["https://example.com/a.png", "http://example.com/b"])
async def test_http_urls_are_left_to_the_server(url: str) -> None:
    """
    http(s) URLs are passed on for the server to fetch.
    """
    assert RemoteImage(url) == await read_image(url)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (b"hello, not an image", "not an image"),
        (GIF, "GIF is not supported"),
        (WEBP, "WEBP is not supported"),
        (b"\x89PNG\r\n\x1a\n", "unreadable PNG header"),
        (b"", "empty"),
        (png(8, 8) + b"\x00" * (10 * 1024 * 1024), "at most 10 MB"),
        ("ftp://example.com/a.png", "unsupported URL scheme"),
        ("file:///etc/passwd", "unsupported URL scheme"),
        ("/no/such/file.png", "no such file"),
        (12345, "expected a path"),
    ],
)
async def test_bad_images_are_refused_before_any_request(source: object, reason: str) -> None:
    """
    Each image the API would reject raises a ValidationError naming the problem.
    """
    with pytest.raises(a1.ValidationError, match=reason) as caught:
        await read_image(source)  # type: ignore[arg-type]
    assert "image" == caught.value.field


@pytest.mark.anyio
async def test_exactly_10_mb_is_accepted_and_one_more_byte_is_not(tmp_path: Path) -> None:
    """
    The 10 MB limit is inclusive, for files on disk as for bytes.
    """
    limit = 10 * 1024 * 1024
    data = png(8, 8)
    path = tmp_path / "big.png"
    path.write_bytes(data + b"\x00" * (limit - len(data)))
    assert isinstance(await read_image(path), LocalImage)
    path.write_bytes(data + b"\x00" * (limit - len(data) + 1))
    with pytest.raises(a1.ValidationError, match="10 MB"):
        await read_image(path)


@pytest.mark.anyio
async def test_text_mode_file_is_refused(tmp_path: Path) -> None:
    """
    A file opened in text mode is refused with a hint.
    """
    path = tmp_path / "a.txt"
    path.write_text("x")
    with path.open() as handle, pytest.raises(a1.ValidationError, match="binary mode"):
        await read_image(handle)  # type: ignore[arg-type]


def test_sniff() -> None:
    """
    Formats are told apart by their magic bytes.
    """
    assert ["png", "jpeg", "gif", "webp", None] == [
        sniff(png()),
        sniff(jpeg()),
        sniff(GIF),
        sniff(WEBP),
        sniff(b"<html>"),
    ]
