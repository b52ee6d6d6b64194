"""
:class:`PostgresJournal`: one batch's journal in PostgreSQL, shared by every worker.

It is the engine's :class:`~.._engine._journal.SharedJournalStore`: records are read by
key or by page (a shard's range of ``seq``), never loaded whole, and every write is one
statement that checks the job's state first (compare-and-set), so that:

- ``pending -> submitting`` (the claim) happens only if the job is still pending, and
  reserves its credits in the batch's row in the same statement: two workers cannot
  both claim a job, nor together pass the budget;
- a job leaves ``submitting`` (to ``submitted``, ``answered``, back to ``pending``, or
  to an end) only by the hand of the worker that claimed it (its claim id), except to
  ``unknown``: any worker may declare the claim of a dead one unknown, and the claimant,
  if it lives after all, may still record the task it got (``unknown -> submitted``);
- moving back to ``pending`` gives the reserved credits back;
- a job that reaches ``done``, ``failed`` or ``unknown`` is numbered (``ended``) in the
  order jobs end, which the batch's iterator follows.

Each write names the worker in the row (``worker``), for the status board's "jobs by
worker".  :attr:`PostgresJournal.round_trips` counts the statements sent, for the
benchmarks.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Collection, Sequence
from typing import Any, Final

import attrs

from .._engine._errors import BudgetExceededError
from .._engine._journal import JobRecord, JobState
from ._database import Pool, open_pool, require_asyncio
from ._group import GroupCommit

#: The journal columns, in the order :func:`record_of` reads them.
COLUMNS: Final = "key, state, task_id, files, error, cost, updated, route, hint, submitted_at"

_FINAL: Final = tuple(state.value for state in JobState if state.is_final)

_SET: Final = """
    state = %(state)s, task_id = %(task_id)s, files = %(files)s::jsonb, error = %(error)s,
    cost = %(cost)s, updated = %(updated)s, route = %(route)s, hint = %(hint)s,
    submitted_at = %(submitted_at)s, worker = %(worker)s,
    ended = CASE WHEN %(final)s THEN nextval('a1art_ended') END"""

# Composed from constants only (no input): parameters travel separately.
_CLAIM: Final = f"""
WITH budget AS (
    SELECT budget, spent FROM a1art_batches WHERE name = %(batch)s FOR UPDATE
), claimed AS (
    UPDATE a1art_jobs SET {_SET}, claim = %(claim)s
     WHERE batch = %(batch)s AND key = %(key)s AND state = ANY(%(expect)s)
       AND EXISTS (SELECT 1 FROM budget
                    WHERE budget.budget IS NULL OR budget.spent + %(cost)s <= budget.budget)
    RETURNING 1
), charged AS (
    UPDATE a1art_batches SET spent = spent + %(cost)s
     WHERE name = %(batch)s AND EXISTS (SELECT 1 FROM claimed)
    RETURNING spent
)
SELECT (SELECT count(*) FROM claimed),
       (SELECT budget FROM budget), (SELECT spent FROM budget),
       EXISTS (SELECT 1 FROM a1art_jobs WHERE batch = %(batch)s AND key = %(key)s)
"""  # noqa: S608

# Leaving `submitting` (or recording a task on `unknown`) needs the claim, except
# declaring it unknown; going back to `pending` refunds the reservation.
_MOVE: Final = f"""
WITH moved AS (
    UPDATE a1art_jobs SET {_SET},
           claim = CASE WHEN %(state)s = 'pending' THEN NULL ELSE claim END
     WHERE batch = %(batch)s AND key = %(key)s AND state = ANY(%(expect)s)
       AND (%(state)s = 'unknown'
            OR NOT (state = 'submitting'
                    OR (state = 'unknown' AND %(state)s IN ('submitted', 'answered')))
            OR claim = %(claim)s)
    RETURNING 1
), refund AS (
    UPDATE a1art_batches SET spent = spent - %(refund)s
     WHERE name = %(batch)s AND %(refund)s > 0 AND EXISTS (SELECT 1 FROM moved)
    RETURNING 1
)
SELECT count(*) FROM moved
"""  # noqa: S608

_INSERT: Final = """
INSERT INTO a1art_jobs (batch, key, params, state, updated, worker)
VALUES (%(batch)s, %(key)s, '{}', 'pending', %(updated)s, %(worker)s)
ON CONFLICT (batch, key) DO NOTHING
"""


def record_of(row: Sequence[Any]) -> JobRecord:
    """
    A journal record from a row of :data:`COLUMNS`.
    """
    key, state, task_id, files, error, cost, updated, route, hint, submitted_at = row[:10]
    return JobRecord(
        key=key,
        state=JobState(state),
        task_id=task_id,
        files=tuple(files or ()),
        error=error,
        cost=cost,
        updated=updated,
        route=route,
        hint=hint,
        submitted_at=submitted_at,
    )


@attrs.frozen
class Claim:
    """
    A worker's claim on a job it moved into ``submitting``: its id, and the credits
    it reserved.
    """

    id: uuid.UUID
    cost: int


def worker_name() -> str:
    """
    A name for this process's worker: host, process id and a random suffix.
    """
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class PostgresJournal:
    """
    One batch's journal in PostgreSQL (needs the ``postgres`` extra; asyncio only).

    Args:
        dsn: A ``postgresql://`` URL.
        batch: The batch's name (created if new).
        worker: This process's name in the rows it writes (host:pid:random by default).
        pool: A connection pool to share (a worker's); else the journal opens its own.
    """

    def __init__(
        self, dsn: str, batch: str, *, worker: str | None = None, pool: Pool | None = None
    ) -> None:
        if not isinstance(batch, str) or not batch.strip():
            from .._engine._errors import ValidationError

            raise ValidationError("batch", f"must be a non-empty name, got {batch!r}")
        self.dsn = dsn
        self.batch = batch
        self.worker = worker or worker_name()
        self._pool = pool
        self._owned = pool is None
        self._claims: dict[str, Claim] = {}
        self._group = GroupCommit(self._execute, batch, self.worker)
        #: Statements sent so far.
        self.round_trips = 0

    def __repr__(self) -> str:
        return f"<PostgresJournal batch={self.batch!r} worker={self.worker!r}>"

    @property
    def pool(self) -> Pool:
        """
        The connection pool (once open).
        """
        assert self._pool is not None, "open the journal first"
        return self._pool

    async def open(self) -> None:
        require_asyncio("a PostgreSQL journal")
        if self._pool is None:
            self._pool = await open_pool(self.dsn)
        await self._execute(
            "INSERT INTO a1art_batches (name) VALUES (%s) ON CONFLICT DO NOTHING", (self.batch,)
        )

    async def close(self) -> None:
        await self._group.close()
        if self._owned and self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _execute(self, query: str, params: Any) -> list[tuple[Any, ...]]:
        self.round_trips += 1
        async with self.pool.connection() as connection:
            cursor = await connection.execute(query, params)
            return await cursor.fetchall() if cursor.description else []

    async def fetch(self, keys: Sequence[str]) -> dict[str, JobRecord]:
        rows = await self._execute(
            f"SELECT {COLUMNS} FROM a1art_jobs WHERE batch = %s AND key = ANY(%s)",  # noqa: S608
            (self.batch, list(keys)),
        )
        return {row[0]: record_of(row) for row in rows}

    def _params(self, record: JobRecord, states: list[str]) -> dict[str, Any]:
        """
        The statement parameters of *record*'s transition from *states*.
        """
        return {
            "batch": self.batch,
            "key": record.key,
            "state": record.state.value,
            "task_id": record.task_id,
            "files": json.dumps(list(record.files)),
            "error": record.error,
            "cost": record.cost,
            "updated": record.updated or time.time(),
            "route": record.route,
            "hint": record.hint,
            "submitted_at": record.submitted_at,
            "worker": self.worker,
            "final": record.state.value in _FINAL,
            "expect": states,
        }

    async def transition(self, record: JobRecord, expect: Collection[JobState | None]) -> bool:
        states = [state.value for state in expect if state is not None]
        params = self._params(record, states)
        if record.state is JobState.SUBMITTING:
            return await self._claim(record, params, may_insert=None in expect)
        held = self._claims.get(record.key)
        params["claim"] = held.id if held is not None else None
        refund = held.cost if held is not None and record.state is JobState.PENDING else 0
        if refund or None in expect:
            # Rare: giving credits back, or a job that may have no row yet.
            if None in expect:
                # A job nobody enqueued (a store used directly): give it a row first.
                await self._execute(_INSERT, params)
                params["expect"] = [*states, JobState.PENDING.value]
            params["refund"] = refund
            rows = await self._execute(_MOVE, params)
            moved = bool(rows[0][0])
        else:
            params["expect"] = ",".join(states)
            params["claim"] = None if held is None else str(held.id)
            moved = await self._group.move(params)
        if moved and record.state not in (JobState.SUBMITTING, JobState.UNKNOWN):
            self._claims.pop(record.key, None)
        return moved

    async def _claim(self, record: JobRecord, params: dict[str, Any], *, may_insert: bool) -> bool:
        """
        ``-> submitting``, reserving the job's credits, in one statement (two more, the
        first time, for a job that has no row yet and may be given one).
        """
        claim = Claim(uuid.uuid4(), record.cost)
        params["claim"] = claim.id
        rows = await self._execute(_CLAIM, params)
        claimed, budget, spent, exists = rows[0]
        if not claimed and not exists and may_insert:
            # A job nobody enqueued (a store used directly): give it a row, claim again.
            await self._execute(_INSERT, params)
            rows = await self._execute(_CLAIM, params)
            claimed, budget, spent, exists = rows[0]
        if claimed:
            self._claims[record.key] = claim
            return True
        if budget is not None and spent is not None and spent + record.cost > budget:
            raise BudgetExceededError(
                f"job {record.key} costs {record.cost} credits; the batch "
                f"{self.batch!r} has {max(0, budget - spent)} of its budget of "
                f"{budget} left"
            )
        return False
