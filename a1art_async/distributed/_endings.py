"""
:class:`Endings`: a batch's jobs as they end, read from the journal a page at a time.

A row that reaches ``done``, ``failed`` or ``unknown`` takes the next number of the
``a1art_ended`` sequence, so following the batch is reading the rows numbered above the
last one read.  Numbers are taken when a statement runs, not when it commits, so a row
may become visible after rows with higher numbers (two workers' statements committing
in the other order).  The reader therefore looks again, for a few seconds, below what
it has read, and skips the numbers it has seen: memory holds the numbers of those
seconds, never the batch's keys.
"""

from __future__ import annotations

import collections
import time
from typing import Any, Final

from ._database import Pool

#: Rows read at once.
PAGE: Final = 1000
#: Seconds a statement has to commit after taking its number.
SETTLE: Final = 5.0


class Endings:
    """
    Follows one batch's endings (see the module docstring).

    Args:
        pool: The connection pool.
        batch: The batch's name.
        after: Read endings numbered above this (see :func:`last_ended`).
        settle: Seconds to keep looking below what was read.
        clock: Seconds, monotonic.
    """

    def __init__(
        self,
        pool: Pool,
        batch: str,
        after: int,
        *,
        settle: float = SETTLE,
        clock: Any = time.monotonic,
    ) -> None:
        self._pool = pool
        self._batch = batch
        self._settle = settle
        self._clock = clock
        # Everything at or below the floor is settled; above it, the numbers read.
        self._floor = after
        self._seen: set[int] = set()
        # (when, highest number read then), to raise the floor once settled.
        self._marks: collections.deque[tuple[float, int]] = collections.deque()
        self._top = after

    async def page(self) -> list[tuple[Any, ...]]:
        """
        The next endings not read yet, in number order: ``(key, state, task_id, files,
        error, cost, ended)`` rows, at most :data:`PAGE`.
        """
        now = self._clock()
        while self._marks and now - self._marks[0][0] >= self._settle:
            _, mark = self._marks.popleft()
            self._floor = max(self._floor, mark)
            self._seen = {n for n in self._seen if n > self._floor}
        async with self._pool.connection() as connection:
            cursor = await connection.execute(
                "SELECT key, state, task_id, files, error, cost, ended FROM a1art_jobs"
                " WHERE batch = %s AND ended > %s AND NOT (ended = ANY(%s))"
                " ORDER BY ended LIMIT %s",
                (self._batch, self._floor, list(self._seen), PAGE),
            )
            rows = await cursor.fetchall()
        for row in rows:
            ended = int(row[6])
            self._seen.add(ended)
            self._top = max(self._top, ended)
        self._marks.append((now, self._top))
        return rows


async def last_ended(pool: Pool) -> int:
    """
    The highest ending number taken so far (by any batch): follow endings after it.
    """
    async with pool.connection() as connection:
        cursor = await connection.execute(
            "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM a1art_ended"
        )
        row = await cursor.fetchone()
    return int(row[0]) if row else 0
