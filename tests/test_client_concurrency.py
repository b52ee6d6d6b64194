"""
Many concurrent requests on one client over real HTTP: in-flight requests are bounded to
the pool size, so none waits inside httpx's pool long enough to hit its PoolTimeout.
"""

from __future__ import annotations

import anyio
import httpx
import pytest

import a1art_async as a1
from a1art_async.testing import png_bytes

from .test_emulator_server import _serving


@pytest.mark.anyio
async def test_a_thousand_concurrent_uploads_hit_no_pool_timeout() -> None:
    """
    1,000 uploads started at once through a 16-connection pool with a 1 s pool timeout
    all complete: the client queues them before httpx's pool, not inside it.
    """
    image = png_bytes(32, 32)
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    timeout = httpx.Timeout(30.0, pool=1.0)
    uploads: list[a1.Upload] = []
    failures: list[BaseException] = []

    async def one(client: a1.AsyncClient) -> None:
        try:
            uploads.append(await client.images.upload(image))
        except a1.A1ArtError as error:
            failures.append(error)

    async with _serving("--balance", "10") as (_, banner):
        client = a1.AsyncClient(
            api_key=banner["api_key"],
            base_url=banner["base_url"],
            limits=limits,
            timeout=timeout,
            max_retries=0,
        )
        async with client, anyio.create_task_group() as group:
            for _ in range(1000):
                group.start_soon(one, client)
    assert [] == failures
    assert 1000 == len({upload.image_url for upload in uploads})
