"""
Just enough ``multipart/form-data`` parsing for the upload endpoint.

The standard library's ``cgi`` module is gone in 3.13 and ``email`` parses whole
messages; a form body is simple enough to split here, and header parameters (quoting,
``filename*``) are still left to ``email.message``.
"""

from __future__ import annotations

from email.message import Message

import attrs


@attrs.frozen
class Part:
    """
    One form part: a text field when ``filename`` is None, else a file.
    """

    name: str | None
    filename: str | None
    data: bytes = attrs.field(repr=False)


def _params(content_type: str) -> Message:
    message = Message()
    message["content-type"] = content_type
    return message


def parse_form(content_type: str | None, body: bytes) -> list[Part]:
    """
    Split a ``multipart/form-data`` body into its parts.

    Args:
        content_type: The request's Content-Type header.
        body: The whole request body.

    Returns:
        The parts in order; empty when the body is not multipart or has no boundary,
        which the upload endpoint answers like a form without an image.
    """
    if content_type is None:
        return []
    header = _params(content_type)
    boundary = header.get_param("boundary")
    if header.get_content_type() != "multipart/form-data" or not isinstance(boundary, str):
        return []
    delimiter = b"--" + boundary.encode("latin-1")
    parts: list[Part] = []
    # The first chunk is the preamble; the closing delimiter leaves a chunk starting "--".
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk.removeprefix(b"\r\n").removesuffix(b"\r\n")
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            continue
        disposition = Message()
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, colon, value = line.partition(":")
            if colon and name.strip().lower() == "content-disposition":
                disposition["content-disposition"] = value.strip()
        field_name = disposition.get_param("name", header="content-disposition")
        parts.append(
            Part(
                name=field_name if isinstance(field_name, str) else None,
                filename=disposition.get_filename(),
                data=data,
            )
        )
    return parts
