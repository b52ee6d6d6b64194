"""
Reading a response body with a size cap, without leaving half-read async generators
behind.

httpx streams bodies through a chain of async generators.  Stopping early leaves them
suspended, and trio warns when such a generator is garbage collected.  So when a body
passes its cap, or the read is cancelled or fails part-way, the response is closed first
and the (now failing or finishing) chain is run to its end, which finalizes every
generator in it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

import anyio
import httpx


async def read_capped(
    response: httpx.Response, limit: int, write: Callable[[bytes], Awaitable[None]]
) -> bool:
    """
    Pass the body to *write* chunk by chunk, up to *limit* bytes.

    Returns:
        ``True`` if the whole body fit, ``False`` if it passed the limit (the response is
        then closed, and what came past the limit was never written).
    """
    received = 0
    fit = False
    chunks = response.aiter_bytes()
    try:
        async for chunk in chunks:
            received += len(chunk)
            if received > limit:
                break
            await write(chunk)
        else:
            fit = True
    finally:
        if not fit:
            # Past the cap, a failed write, or cancelled part-way: close the response,
            # then run the chain to its end (shielded: a cancelled read finalizes too).
            with anyio.CancelScope(shield=True):
                await response.aclose()
                with contextlib.suppress(httpx.HTTPError, RuntimeError):
                    async for _ in chunks:
                        pass
    return fit
