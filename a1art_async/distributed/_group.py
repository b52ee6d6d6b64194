"""
Group commit: the journal writes that need not go one at a time go together.

A shard runs many jobs at once, and most of their journal writes are not claims:
``submitted`` with the task's id, ``answered``, ``done``, ``failed``, ``unknown``.  Each
is still a compare-and-set transition whose caller waits until it is stored (nothing
moves on before its step is durable), but the writes that wait at the same moment are
sent as one statement: :class:`GroupCommit` keeps a queue, and one task sends
everything queued while the previous statement was on its way, one ``UPDATE ... FROM
unnest(...)`` for the lot, then answers each caller whether its own transition took
place.  An idle journal adds no delay (a lone write goes at once); a busy one sends a
statement per round trip instead of one per write.

The claim (``pending -> submitting``, with the budget's reservation) never goes
through here: it is one statement per job, sent right before the job's paid request.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Final

#: Writes sent in one statement at most.
GROUP: Final = 500

# Composed from constants only: every value travels as an array parameter.
MOVE_MANY: Final = """
WITH input AS (
    SELECT * FROM unnest(
        %(key)s::text[], %(state)s::text[], %(task_id)s::text[], %(files)s::text[],
        %(error)s::text[], %(cost)s::int[], %(updated)s::float8[], %(route)s::text[],
        %(hint)s::float8[], %(submitted_at)s::float8[], %(expect)s::text[],
        %(claim)s::uuid[]
    ) AS i(key, state, task_id, files, error, cost, updated, route, hint, submitted_at,
           expect, claim)
), moved AS (
    UPDATE a1art_jobs j
       SET state = i.state, task_id = i.task_id, files = i.files::jsonb, error = i.error,
           cost = i.cost, updated = i.updated, route = i.route, hint = i.hint,
           submitted_at = i.submitted_at, worker = %(worker)s,
           ended = CASE WHEN i.state IN ('done', 'failed', 'unknown')
                        THEN nextval('a1art_ended') END,
           claim = CASE WHEN i.state = 'pending' THEN NULL ELSE j.claim END
      FROM input i
     WHERE j.batch = %(batch)s AND j.key = i.key
       AND j.state = ANY(string_to_array(i.expect, ','))
       AND (i.state = 'unknown'
            OR NOT (j.state = 'submitting'
                    OR (j.state = 'unknown' AND i.state IN ('submitted', 'answered')))
            OR j.claim = i.claim)
    RETURNING j.key
)
SELECT key FROM moved
"""

#: The columns of one write, in the order of :data:`MOVE_MANY`'s arrays.
FIELDS: Final = (
    "key",
    "state",
    "task_id",
    "files",
    "error",
    "cost",
    "updated",
    "route",
    "hint",
    "submitted_at",
    "expect",
    "claim",
)

Execute = Callable[[str, Any], Awaitable[list[tuple[Any, ...]]]]


class GroupCommit:
    """
    Sends the transitions queued at the same moment as one statement (see the module
    docstring); asyncio only, like the rest of the distributed mode.

    Args:
        execute: Sends one statement and returns its rows (the journal's, which counts
            round trips).
        batch: The batch's name.
        worker: The worker's name, written into each row.
    """

    def __init__(self, execute: Execute, batch: str, worker: str) -> None:
        self._execute = execute
        self._batch = batch
        self._worker = worker
        self._queue: collections.deque[tuple[dict[str, Any], asyncio.Future[bool]]] = (
            collections.deque()
        )
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        #: Statements sent, and writes they carried.
        self.statements = 0
        self.writes = 0

    async def move(self, write: dict[str, Any]) -> bool:
        """
        Queue one transition (a value for each of :data:`FIELDS`) and wait until it is
        stored or refused; whether it took place.
        """
        if self._task is None:
            self._task = asyncio.create_task(self._send_forever())
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append((write, future))
        self._ready.set()
        # Cancelling the caller does not take the write back: once queued it is sent,
        # as a write already on the wire would be.
        return await asyncio.shield(future)

    async def close(self) -> None:
        """
        Send what is queued, then stop.
        """
        task, self._task = self._task, None
        if task is None:
            return
        self._closing = True
        self._ready.set()
        try:
            await task
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _send_forever(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._queue:
                await self._send(self._take())
            if self._closing:
                return

    def _take(self) -> list[tuple[dict[str, Any], asyncio.Future[bool]]]:
        """
        The queued writes for one statement: in order, at most :data:`GROUP`, and no
        job twice (a job's second write waits for the next statement).
        """
        group: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        keys: set[str] = set()
        while self._queue and len(group) < GROUP:
            write = self._queue[0][0]
            if write["key"] in keys:
                break
            keys.add(write["key"])
            group.append(self._queue.popleft())
        return group

    async def _send(self, group: list[tuple[dict[str, Any], asyncio.Future[bool]]]) -> None:
        params: dict[str, Any] = {field: [w[field] for w, _ in group] for field in FIELDS}
        params["batch"] = self._batch
        params["worker"] = self._worker
        try:
            rows = await self._execute(MOVE_MANY, params)
        except BaseException as error:
            # The callers learn it as they would from their own statement.
            for _, future in group:
                if future.done():
                    continue
                if isinstance(error, Exception):
                    future.set_exception(error)
                else:
                    future.cancel()
            if not isinstance(error, Exception):
                raise
            return
        self.statements += 1
        self.writes += len(group)
        moved = {row[0] for row in rows}
        for write, future in group:
            if not future.done():
                future.set_result(write["key"] in moved)
