"""
Connecting to the database: one connection pool per process, the schema created once,
and the check that we run on asyncio (psycopg's async API and procrastinate are asyncio
libraries; local batches run on trio too, distributed ones do not).
"""

from __future__ import annotations

import asyncio

from procrastinate.schema import SchemaManager
from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from .._engine._errors import A1ArtError
from ._schema import SCHEMA_LOCK, TABLES

Pool = AsyncConnectionPool[AsyncConnection[TupleRow]]


class AsyncioOnlyError(A1ArtError):
    """
    Distributed batches run on asyncio only: their driver (psycopg) and queue
    (procrastinate) are asyncio libraries.  Local batches run on trio too.
    """


def require_asyncio(what: str) -> None:
    """
    Raises:
        AsyncioOnlyError: The running event loop is not asyncio's.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise AsyncioOnlyError(
            f"{what} runs on asyncio only (psycopg and procrastinate are asyncio "
            "libraries), not on trio: run it with anyio.run(..., backend='asyncio') or "
            "asyncio.run(...); local batches (a SQLite journal) run on trio too"
        ) from None


async def open_pool(dsn: str, *, size: int = 4) -> Pool:
    """
    A pool of up to *size* connections to *dsn*, open, with the schema in place.
    """
    pool: Pool = AsyncConnectionPool(
        dsn, min_size=1, max_size=max(1, size), open=False, configure=_autocommit
    )
    await pool.open(wait=True)
    try:
        await ensure_schema(pool)
    except BaseException:
        await pool.close()
        raise
    return pool


async def _autocommit(connection: AsyncConnection[TupleRow]) -> None:
    # One statement, one round trip: no BEGIN/COMMIT around each (procrastinate's own
    # pool is set up the same way; transactions are explicit where needed).
    await connection.set_autocommit(True)


async def ensure_schema(pool: Pool) -> None:
    """
    Create procrastinate's tables and ours if they are missing (idempotent; processes
    starting together wait for each other on an advisory lock).
    """
    async with pool.connection() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        cursor = await connection.execute("SELECT to_regclass('procrastinate_jobs')")
        row = await cursor.fetchone()
        if row is None or row[0] is None:
            await connection.execute(SchemaManager.get_schema())
        await connection.execute(TABLES)
