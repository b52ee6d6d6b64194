"""
Shared pieces of the akool tests: an emulator and a client wired to it in process.
"""

from __future__ import annotations

from typing import Any

from a1art_async import RetryPolicy, akool
from a1art_async.testing.akool import Emulator

#: Quick retries, so that fault tests stay short in virtual time.
RETRY = RetryPolicy(max_retries=3, initial=0.1, cap=1.0)


def make_client(emulator: Emulator, **options: Any) -> akool.AsyncClient:
    """
    A client on *emulator*'s transport with its key and client id.
    """
    options.setdefault("api_key", emulator.api_key)
    options.setdefault("client_id", emulator.client_id)
    options.setdefault("retry", RETRY)
    return akool.AsyncClient(transport=emulator.transport(), **options)


def requests_to(emulator: Emulator, endpoint: str) -> list[Any]:
    """
    The journal entries of one endpoint.
    """
    return [entry for entry in emulator.journal if entry.endpoint == endpoint]
