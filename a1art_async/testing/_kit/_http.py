"""
The transport-neutral request and answer an emulator works with.

Both adapters (the in-process httpx transport and the ASGI app) translate to and from
these, so everything a service does is written once.  A route handler gets the request
in a :class:`~._routes.Call` and returns a :class:`Response`, or an :class:`Answer` when
the journal should say more than ``ok`` (an error outcome, the task it concerned).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Literal, Protocol
from urllib.parse import parse_qs

import attrs

JSON_TYPE = "application/json;charset=UTF-8"

Action = Literal["send", "drop_before", "drop_after", "timeout"]


def normalize_origin(scheme: str, host: str, port: int | None) -> str:
    """
    Spell an origin the one way the emulator compares them: default ports left out.

    Args:
        scheme: ``http`` or ``https``.
        host: Host name or address (IPv6 without brackets).
        port: The port, or None for the scheme's default.

    Returns:
        ``scheme://host[:port]`` in lower case.
    """
    scheme, host = scheme.lower(), host.lower()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" if port in (None, default) else f"{scheme}://{host}:{port}"


@attrs.frozen
class Request:
    """
    A request as received: header names lower-cased, the whole body read.
    """

    method: str
    origin: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """
        A header's value by lower-case name, or None.
        """
        return self.headers.get(name)

    def param(self, name: str) -> str | None:
        """
        The first value of a query parameter, or None when absent.
        """
        values = parse_qs(self.query, keep_blank_values=True).get(name)
        return values[0] if values else None


@attrs.frozen
class Response:
    """
    An answer before it is put on the wire.

    ``code`` is the API's own status code in the body (an envelope's ``code``), which the
    journal records; ``oversized`` asks the adapter to stream far more bytes than
    ``body`` holds.
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    code: int | None = None
    oversized: bool = False

    @classmethod
    def json(cls, status: int, payload: object, code: int | None = None) -> Response:
        """
        Encode *payload* as compact UTF-8 JSON (``application/json;charset=UTF-8``).
        """
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return cls(status, (("content-type", JSON_TYPE),), body, code)

    def with_headers(self, *headers: tuple[str, str]) -> Response:
        """
        The same answer with more headers.
        """
        return attrs.evolve(self, headers=(*self.headers, *headers))


@attrs.frozen
class Answer:
    """
    A handler's response with what the journal records about it.

    Attributes:
        response: What goes on the wire.
        outcome: The journal outcome: ``ok``, or ``error`` for an API error code, or any
            word the emulator documents.
        task_id: The task the request created or concerned, if any.
        delay: Seconds the service takes to produce the answer after acting (a
            synchronous job's run time), on top of the ``latency`` knob; like latency,
            in-process it becomes ``httpx.ReadTimeout`` past the client's read timeout.
    """

    response: Response
    outcome: str = "ok"
    task_id: str | None = None
    delay: float = 0.0


@attrs.frozen
class Reply:
    """
    What an adapter must do: send the response, or fail the way a network would.
    """

    action: Action
    response: Response | None = None


class Served(Protocol):
    """
    What the adapters (the in-process transport, the ASGI app) need of an emulator:
    its origins and its two ways of answering.  ``EmulatorBase`` is one.
    """

    @property
    def api_origin(self) -> str: ...

    @property
    def file_origins(self) -> tuple[str, ...]: ...

    async def handle(self, request: Request, *, read_timeout: float | None = None) -> Reply: ...

    def admin(self, request: Request) -> Response: ...

    def running(self) -> AbstractAsyncContextManager[object]: ...
