"""
Reading the images users hand to uploads and enhance, and checking them locally.

An image may be a path, bytes, a binary file object, or an http(s) URL for the server to
fetch.  Local images are checked the way the API checks them, before anything is sent:
PNG or JPEG by content (not by name), at most 10 MB, and a readable header with the
image's dimensions.
"""

from __future__ import annotations

import io
import os
import re
import zlib
from typing import BinaryIO, TypeAlias

import anyio
import attrs
import imagesize

from ._config import MAX_UPLOAD_BYTES
from ._engine._errors import ValidationError

#: Anything ``images.upload`` accepts.
ImageSource: TypeAlias = "str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO"

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
)
_CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}
_EXTENSIONS = {"png": "png", "jpeg": "jpg"}
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# Two letters at least, so that a Windows drive ("C:") stays a path.
_OPAQUE_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")


def sniff(data: bytes) -> str | None:
    """
    Name an image format from its first bytes: ``png``, ``jpeg``, ``gif``, ``webp``, ...
    """
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            return kind
    return None


@attrs.frozen
class LocalImage:
    """
    A checked image read into memory, ready to upload.
    """

    data: bytes = attrs.field(repr=lambda d: f"<{len(d)} bytes>")
    filename: str
    content_type: str
    width: int
    height: int


@attrs.frozen
class RemoteImage:
    """
    An http(s) URL the server fetches itself (``imageUrl`` in the upload form).
    """

    url: str


def check_image(data: bytes, name: str = "image", *, field: str = "image") -> LocalImage:
    """
    Check bytes the way the upload endpoint does, and name the file after its content.

    Raises:
        ValidationError: Empty, over 10 MB, not PNG/JPEG, or with an unreadable header.
    """
    if not data:
        raise ValidationError(field, "the image is empty")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValidationError(
            field,
            f"the image is {len(data)} bytes; the API accepts at most 10 MB ({MAX_UPLOAD_BYTES})",
        )
    kind = sniff(data)
    if kind is None:
        raise ValidationError(field, "not an image: only PNG and JPEG files can be uploaded")
    if kind not in _CONTENT_TYPES:
        raise ValidationError(field, f"{kind.upper()} is not supported: only PNG and JPEG")
    if kind == "png":
        if len(data) < 33 or data[8:16] != b"\x00\x00\x00\x0dIHDR":
            raise ValidationError(field, "unreadable PNG header")
        if int.from_bytes(data[29:33], "big") != zlib.crc32(data[12:29]):
            # The size sits in IHDR, guarded by its CRC: a mismatch means the header
            # was damaged or altered, and the server refuses it (400004).
            raise ValidationError(field, "corrupt PNG header: its CRC does not match")
    try:
        width, height = imagesize.get(io.BytesIO(data))
    except (ValueError, OSError, IndexError) as error:  # a truncated or corrupt header
        raise ValidationError(field, f"unreadable {kind.upper()} header") from error
    if width <= 0 or height <= 0:
        raise ValidationError(field, f"unreadable {kind.upper()} header")
    stem = os.path.splitext(os.path.basename(name))[0] or "image"
    return LocalImage(
        data=data,
        filename=f"{stem}.{_EXTENSIONS[kind]}",
        content_type=_CONTENT_TYPES[kind],
        width=width,
        height=height,
    )


async def read_image(source: ImageSource, *, field: str = "image") -> LocalImage | RemoteImage:
    """
    Resolve what the user passed into checked bytes or a URL for the server.

    Files are read in a worker thread and never more than 10 MB + 1 byte of them.

    Raises:
        ValidationError: For a missing file, an unsupported URL scheme, or an image the
            API would reject.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        return check_image(bytes(source), field=field)
    if isinstance(source, str) and _SCHEME.match(source):
        scheme = source.split(":", 1)[0].lower()
        if scheme not in ("http", "https"):
            raise ValidationError(field, f"unsupported URL scheme {scheme!r}: use http(s)")
        return RemoteImage(source)
    if isinstance(source, str | os.PathLike):
        path = anyio.Path(os.fspath(source))
        try:
            size = (await path.stat()).st_size
            if not await path.is_file():
                raise ValidationError(field, f"not a file: {os.fspath(source)!r}")
        except FileNotFoundError:
            if isinstance(source, str) and (opaque := _OPAQUE_SCHEME.match(source)):
                # "data:...", "javascript:...": a URL without "//", not a missing file.
                name = opaque.group(1).lower()
                raise ValidationError(
                    field, f"unsupported URL scheme {name!r}: use http(s)"
                ) from None
            raise ValidationError(field, f"no such file: {os.fspath(source)!r}") from None
        if size > MAX_UPLOAD_BYTES:
            raise ValidationError(
                field,
                f"the image is {size} bytes; the API accepts at most 10 MB ({MAX_UPLOAD_BYTES})",
            )
        return check_image(await path.read_bytes(), path.name, field=field)
    if hasattr(source, "read"):
        data = await anyio.to_thread.run_sync(source.read, MAX_UPLOAD_BYTES + 1)
        if not isinstance(data, bytes):
            raise ValidationError(field, "the file object must be opened in binary mode")
        name = getattr(source, "name", None)
        return check_image(data, name if isinstance(name, str) else "image", field=field)
    raise ValidationError(
        field, f"expected a path, bytes, a binary file or a URL, got {type(source).__name__}"
    )
