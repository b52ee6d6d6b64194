"""
The gateway emulator's fault knobs: the kit's, and three of its own.
"""

from __future__ import annotations

from typing import ClassVar, Final

import attrs

from .._kit import FaultKnobs
from .._kit._faults import non_negative, positive_or_none, probability

ENDPOINTS: Final = frozenset({"generations", "tasks"})
"""The endpoint names: ``generations`` (POST) and ``tasks`` (GET)."""


@attrs.define
class Faults(FaultKnobs):
    """
    Fault knobs, all off by default; assign to any of them at any time.

    The kit's knobs work as for every emulator (``docs/emulator.md``); on this API
    ``rate_limit`` always refuses with HTTP 429 and ``Retry-After`` (the documented
    answer), so ``rate_limit_http_429`` changes nothing, and ``server_error_rate``
    answers HTTP 500 in the envelope.  The task knobs (``task_failure_rate``,
    ``task_stuck_rate``, ``task_concurrency``) concern asynchronous models only.

    Attributes:
        sync_latency: Seconds added to every synchronous model's answer, after the
            generation was charged: past the client's read timeout the client sees a
            read timeout for a generation that was paid for.
        unknown_state_rate: Probability that an asynchronous task reports, while it
            runs, a state word that none of the usual spellings covers (``STALLED``).
        task_ttl: Seconds after a task ended before the service forgets it: then a
            Bailian-style task answers ``task_status: UNKNOWN`` and the others 400.
            Without it only Bailian-style tasks are forgotten, 24 hours after they
            were created (as DashScope documents).
    """

    sync_latency: float = attrs.field(default=0.0, validator=non_negative)
    unknown_state_rate: float = attrs.field(default=0.0, validator=probability)
    task_ttl: float | None = attrs.field(default=None, validator=positive_or_none)

    ENDPOINTS: ClassVar[frozenset[str] | None] = ENDPOINTS
