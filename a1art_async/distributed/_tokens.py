"""
:class:`SharedTokenSource`: one request budget per API key, shared by every worker.

The server limits the key, not the process, so the rate part of the budget lives in
one database row per key (``a1art_rates``, keyed by a hash: the key itself is never
stored).  The row holds a GCRA (generic cell rate algorithm): ``tat``, the theoretical
arrival time of the next request on the database's clock (``clock_timestamp()``), and
the rate, adapted as :class:`~.._engine._limiter.LocalTokenSource` adapts its own
(slow start, additive increase, one multiplicative decrease per round of refusals,
Retry-After pauses, probing again), with the round (``epoch``) shared: one refusal
slows every worker once.

The limiter calls a token source synchronously and it must never wait for I/O, so this
one *leases* tokens: a background task keeps a small allowance of tokens topped up,
each with the time the shared schedule grants it (``tat`` advanced by ``1/rate`` per
token, in one statement), converted to this process's clock; ``wait`` and ``take``
read that allowance.  The same task reports back what the limiter told the source
(accepted answers that waited, refusals).

The trade-off: a worker holds at most ``lease_ahead`` seconds of the shared schedule
(0.25 s by default), which it may leave unused (another worker cannot take those slots)
or use after a refusal elsewhere until its next lease (every ``lease_ahead / 2``
seconds): a refusal slows the others within that time, not at once.  Tokens are
granted on the database's clock, so the workers' clocks need not agree.  A worker that
dies loses its lease, at most ``lease_ahead`` seconds of the budget.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import logging
import math
from collections.abc import AsyncIterator
from typing import Any, Final

import anyio

from .._engine._limiter import LocalTokenSource, Permit, RateLimit
from ._database import Pool

logger = logging.getLogger("a1art_async.distributed")

#: Grant up to this many tokens in one lease.
_MAX_LEASE: Final = 1000

_LEASE: Final = """
INSERT INTO a1art_rates AS r (key_hash, rate, tat)
VALUES (%(key)s, %(initial)s, extract(epoch FROM clock_timestamp())::float8)
ON CONFLICT (key_hash) DO UPDATE SET key_hash = r.key_hash
RETURNING rate, epoch
"""

# One statement: apply the increases this worker saw, probe again after a quiet spell,
# then grant up to `want` tokens whose times fall before now + ahead.
_GRANT: Final = """
WITH now AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS t),
adapted AS (
    SELECT r.key_hash, now.t,
           CASE WHEN NOT %(adaptive)s THEN r.rate
                ELSE least(%(ceiling)s, greatest(%(floor)s, r.rate
                    + %(saturated)s * CASE WHEN r.slow_start
                        OR (r.last_decrease IS NOT NULL
                            AND now.t - r.last_decrease >= %(probe_after)s)
                      THEN %(slow_start)s ELSE %(increase)s END))
           END AS rate,
           r.slow_start OR (r.last_decrease IS NOT NULL AND %(saturated)s > 0
                            AND now.t - r.last_decrease >= %(probe_after)s) AS slow_start,
           greatest(r.tat, now.t - %(burst)s) AS start
      FROM a1art_rates r, now
     WHERE r.key_hash = %(key)s
     FOR UPDATE OF r
),
granted AS (
    SELECT a.*, greatest(0, least(%(want)s,
               floor((a.t + %(ahead)s - a.start) * a.rate)))::int AS n
      FROM adapted a
)
UPDATE a1art_rates r
   SET rate = g.rate, slow_start = g.slow_start, tat = g.start + g.n / g.rate
  FROM granted g
 WHERE r.key_hash = g.key_hash
RETURNING g.t, g.start, g.n, g.rate, r.epoch
"""

# A refusal of a permit granted in the current round: decrease once, empty the
# schedule (and pause it for Retry-After); the round moves on for every worker.
_REFUSED: Final = """
UPDATE a1art_rates
   SET epoch = epoch + 1, decreases = decreases + 1, refusals = refusals + 1,
       slow_start = false,
       last_decrease = extract(epoch FROM clock_timestamp())::float8,
       rate = least(%(ceiling)s, greatest(%(floor)s, least(rate, %(rate)s) * %(decrease)s)),
       tat = greatest(tat, extract(epoch FROM clock_timestamp())::float8 + %(pause)s)
 WHERE key_hash = %(key)s AND epoch = %(epoch)s
RETURNING epoch
"""

_COUNT_REFUSAL: Final = "UPDATE a1art_rates SET refusals = refusals + 1 WHERE key_hash = %s"


def key_hash(api_key: str) -> str:
    """
    The row name of an API key: a salted SHA-256, never the key.
    """
    digest = hashlib.sha256(b"a1art-async shared budget\0" + api_key.encode())
    return digest.hexdigest()


class SharedTokenSource:
    """
    A :class:`~a1art_async.TokenSource` over a database row per API key (see the module
    docstring); pass it as ``AsyncClient(token_source=...)`` inside
    ``async with source:``.

    Args:
        pool: The worker's connection pool.
        api_key: The key whose budget this is (hashed; never stored or shown).
        config: The rate's parameters, as for a local budget.
        lease_ahead: Seconds of the shared schedule this process may hold.
        clock: This process's clock (the limiter's; the loop's by default).
    """

    def __init__(
        self,
        pool: Pool,
        api_key: str,
        config: RateLimit | None = None,
        *,
        lease_ahead: float = 0.25,
        clock: Any = anyio.current_time,
    ) -> None:
        self.config = config or RateLimit()
        self._pool = pool
        self._key = key_hash(api_key)
        self._ahead = lease_ahead
        self._clock = clock
        # Granted tokens: times on this process's clock, in order.
        self._tokens: collections.deque[float] = collections.deque()
        self._rate = self.config.initial
        self._epoch = 0
        self._saturated = 0
        self._refused: list[tuple[Permit, float | None]] = []
        self._wake = anyio.Event()
        self._group: Any = None
        self.refusals = 0
        self.decreases = 0
        #: Statements sent so far.
        self.round_trips = 0

    def __repr__(self) -> str:
        return f"<SharedTokenSource rate={self._rate:.3g}/s leased={len(self._tokens)}>"

    async def __aenter__(self) -> SharedTokenSource:
        config = self.config
        initial = config.initial if config.ceiling is None else min(config.initial, config.ceiling)
        if not config.adaptive:
            initial = config.ceiling if config.ceiling is not None else 1e9
        rows = await self._execute(_LEASE, {"key": self._key, "initial": initial})
        self._rate, self._epoch = rows[0]
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        self._group.start_soon(self._keep_leasing)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._group.cancel_scope.cancel()
        await self._group.__aexit__(None, None, None)

    async def _execute(self, query: str, params: Any) -> list[tuple[Any, ...]]:
        self.round_trips += 1
        async with self._pool.connection() as connection:
            cursor = await connection.execute(query, params)
            return await cursor.fetchall() if cursor.description else []

    # The token source protocol: never waits ---------------------------------------

    @property
    def rate(self) -> float:
        return self._rate

    def wait(self, now: float) -> float:
        if self._tokens:
            return max(0.0, self._tokens[0] - now)
        self._wake.set()
        # Nothing leased yet: look again when the next lease is likely in.
        return max(0.01, self._ahead / 4)

    def take(self, now: float, *, waited: bool) -> Permit:
        if self._tokens:
            self._tokens.popleft()
        if len(self._tokens) < 2:
            self._wake.set()
        return Permit(self._rate, self._epoch, waited)

    def give_back(self, permit: Permit) -> None:
        self._tokens.appendleft(self._clock())

    def accepted(self, permit: Permit, now: float) -> None:
        if self.config.adaptive and permit.saturated:
            self._saturated += 1

    def refused(self, permit: Permit, now: float, retry_after: float | None) -> None:
        self.refusals += 1
        if permit.epoch == self._epoch:
            # Stop sending on this lease at once; the database decides the new rate.
            self._tokens.clear()
        self._refused.append((permit, retry_after))
        self._wake.set()

    # Leasing ------------------------------------------------------------------------

    async def _keep_leasing(self) -> None:
        while True:
            try:
                await self._report_refusals()
                await self._lease()
            except Exception:  # the database is away: keep what is leased, try again
                logger.warning("leasing request tokens failed", exc_info=True)
                await anyio.sleep(self._ahead)
            with anyio.move_on_after(self._ahead / 2):
                await self._wake.wait()
            self._wake = anyio.Event()

    def _bounds(self) -> dict[str, Any]:
        config = self.config
        return {
            "key": self._key,
            "floor": config.floor,
            "ceiling": config.ceiling if config.ceiling is not None else math.inf,
        }

    async def _report_refusals(self) -> None:
        refused, self._refused = self._refused, []
        config = self.config
        for permit, retry_after in refused:
            if not config.adaptive:
                await self._execute(_COUNT_REFUSAL, (self._key,))
                continue
            pause = 0.0
            if retry_after is not None and retry_after > 0:
                pause = min(retry_after, config.max_pause)
            rows = await self._execute(
                _REFUSED,
                {
                    **self._bounds(),
                    "rate": permit.rate,
                    "decrease": config.decrease,
                    "pause": pause,
                    "epoch": permit.epoch,
                },
            )
            if rows:
                self.decreases += 1
            else:
                await self._execute(_COUNT_REFUSAL, (self._key,))

    async def _lease(self) -> None:
        config = self.config
        # Tokens leased and not yet taken cover part of the horizon already.
        want = math.ceil(self._rate * self._ahead) + 1 - len(self._tokens)
        saturated, self._saturated = self._saturated, 0
        rate_ceiling = config.ceiling if config.ceiling is not None else math.inf
        if not config.adaptive:
            rate_ceiling = config.ceiling if config.ceiling is not None else 1e9
        before = self._clock()
        rows = await self._execute(
            _GRANT,
            {
                **self._bounds(),
                "ceiling": rate_ceiling,
                "adaptive": config.adaptive,
                "saturated": saturated,
                "slow_start": config.slow_start,
                "increase": config.increase,
                "probe_after": config.probe_after,
                "burst": config.burst,
                "want": max(0, min(want, _MAX_LEASE)),
                "ahead": self._ahead,
            },
        )
        after = self._clock()
        if not rows:
            return
        db_now, start, count, rate, epoch = rows[0]
        # The database's clock against ours, at the middle of the round trip.
        offset = db_now - (before + after) / 2
        if epoch != self._epoch:
            self._epoch = epoch
            self._tokens.clear()
        self._rate = rate
        for index in range(int(count)):
            self._tokens.append(start + index / rate - offset)


@contextlib.asynccontextmanager
async def shared_budget(pool: Pool, client: Any) -> AsyncIterator[None]:
    """
    The server limits the key, not the process: while the block runs, *client*'s own
    token source gives way to its key's shared one (the database row every worker with
    this key uses), unless the client was given a source of its own.  In-flight slots
    and priorities stay the client's.
    """
    session = getattr(client, "_session", None)
    if session is None or not isinstance(session.limiter.source, LocalTokenSource):
        yield
        return
    limiter = session.limiter
    local = limiter.source
    async with SharedTokenSource(pool, session._secret.reveal(), limiter.config) as source:
        limiter.source = source
        try:
            yield
        finally:
            limiter.source = local
