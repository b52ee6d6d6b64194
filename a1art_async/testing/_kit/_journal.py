"""
The request journal: every request an emulator saw, in arrival order, for assertions.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class JournalEntry:
    """
    One request as the emulator saw it, in arrival order.

    Attributes:
        time: Emulator time of arrival (see ``Emulator.now``).
        method: HTTP method.
        origin: ``scheme://host[:port]`` the request was addressed to.
        path: URL path.
        query: Raw query string, without ``?``.
        headers: Header names lower-cased, values as received.
        status: HTTP status produced; 0 when the connection dropped instead.
        code: The API's code in the body (a1.art's envelope code); None for files,
            redirects, gateway errors, unknown paths and drops.
        endpoint: The route's endpoint name (a1.art: ``apps``, ``upload``,
            ``generate``, ``optimize``, ``tasks``), ``file`` for the file host (CDN), or
            ``other`` for requests no route matches.
        outcome: ``ok``, ``error`` (an API error code), ``rate_limited``,
            ``server_error``, ``http_5xx``, ``malformed``, ``redirect``, ``not_found``,
            ``expired``, ``dropped_before``, ``dropped_after`` or ``timeout``.
        key: The API key as received (also on file downloads, to spot leaks), if any.
        task_id: The task created or asked about, if any.
    """

    time: float
    method: str
    origin: str
    path: str
    query: str
    headers: dict[str, str]
    status: int
    code: int | None
    endpoint: str
    outcome: str
    key: str | None
    task_id: str | None
