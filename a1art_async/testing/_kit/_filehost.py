"""
The file host: the origins (a CDN) that serve result files, apart from the API.

It answers GET and HEAD (no key needed), S3-style XML errors (404 ``NoSuchKey``, 403
``AccessDenied`` for an expired file, 405 for other methods), and files the emulator
looks up by path when they are asked for, so results can be drawn lazily.  It also
holds the remote files an upload-by-URL may fetch: the emulator never goes online.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Final, Generic, TypeVar
from urllib.parse import urlsplit

import attrs

from ._http import Answer, Request, Response, normalize_origin

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_XML: Final = "application/xml"


@attrs.frozen
class File:
    """
    A file the host serves; an ``expired`` one answers 403 instead.
    """

    content_type: str
    body: bytes = attrs.field(repr=False)
    expired: bool = False


@attrs.frozen
class RemoteFile:
    """
    A file on someone else's server that an upload by URL may fetch.
    """

    data: bytes = attrs.field(repr=False)
    content_type: str


def xml_error(status: int, code: str, message: str) -> Response:
    """
    An S3-style XML error answer.
    """
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error>\n  <Code>{code}</Code>\n  <Message>{message}</Message>\n</Error>\n"
    ).encode()
    return Response(status, (("content-type", _XML),), body)


class FileHost:
    """
    Serves the files an emulator looks up, on one or more origins.

    Args:
        origins: Where files are served (``scheme://host[:port]``).
        lookup: The file at a URL path, or None; called on every GET and HEAD, so it may
            draw the file then (cache what is costly: :class:`BoundedCache`).
        task_of: The task a path belongs to, for the journal; None when paths name none.
    """

    def __init__(
        self,
        origins: Iterable[str],
        lookup: Callable[[str], File | None],
        task_of: Callable[[str], str | None] | None = None,
    ) -> None:
        self.origins = tuple(dict.fromkeys(origins))
        self._lookup = lookup
        self._task_of = task_of
        self.remote: dict[str, RemoteFile] = {}

    def task_of(self, path: str) -> str | None:
        """
        The task a path concerns, if the emulator said how to tell.
        """
        return self._task_of(path) if self._task_of is not None else None

    def serve(self, request: Request, *, oversized: bool = False) -> Answer:
        """
        Answer a request to a file origin.

        Args:
            request: The request.
            oversized: Stream far more than the file (the ``oversized_download`` knob).

        Returns:
            The answer; outcome ``ok``, ``expired`` (403) or ``not_found`` (404, or 405
            for a method other than GET and HEAD).
        """
        task_id = self.task_of(request.path)
        if request.method not in ("GET", "HEAD"):
            refusal = xml_error(405, "MethodNotAllowed", "The method is not allowed.")
            return Answer(refusal, "not_found", task_id)
        found = self._lookup(request.path)
        if found is None:
            response = xml_error(404, "NoSuchKey", "The specified key does not exist.")
            outcome = "not_found"
        elif found.expired:
            response = xml_error(403, "AccessDenied", "Request has expired.")
            outcome = "expired"
        else:
            headers = (("content-type", found.content_type),)
            response = Response(200, headers, found.body, oversized=oversized)
            outcome = "ok"
        if request.method == "HEAD":
            length = ("content-length", str(len(response.body)))
            response = Response(response.status, (*response.headers, length), b"")
        return Answer(response, outcome, task_id)

    def register_remote(self, url: str, data: bytes, content_type: str) -> None:
        """
        Make *url* fetchable by :meth:`fetch`.
        """
        self.remote[url] = RemoteFile(data, content_type)

    def fetch(self, url: str) -> bytes | None:
        """
        What a download of *url* by the service gets: a registered remote file or one of
        this host's own files; None when neither (the emulator never leaves the process).
        """
        remote = self.remote.get(url)
        if remote is not None:
            return remote.data
        parts = urlsplit(url)
        if parts.hostname is None or not parts.scheme:
            return None
        try:
            origin = normalize_origin(parts.scheme, parts.hostname, parts.port)
        except ValueError:  # a port outside 0-65535
            return None
        if origin not in self.origins:
            return None
        found = self._lookup(parts.path)
        return found.body if found is not None and not found.expired else None


class BoundedCache(Generic[K, V]):
    """
    A mapping that keeps only its *size* most recently used entries.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K, make: Callable[[], V]) -> V:
        """
        The value under *key*, made (and kept) on a miss.
        """
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        value = self._entries[key] = make()
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return value
