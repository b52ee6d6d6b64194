"""
When a job-style task runs and how it ends, drawn once when it is created.

A task's whole future is fixed at creation: how long it waits in a queue, when it
finishes, and whether it succeeds, fails or never ends (the ``task_*`` fault knobs), so
its state at any moment follows from the emulator's time alone and a seeded run replays
exactly.  Durations are lognormal around the service's typical time, clamped to half and
twice of it, and multiplied by the emulator's time scale.
"""

from __future__ import annotations

import heapq
import math
import random
from typing import Final, Literal

import attrs

from ._faults import FaultKnobs

TaskFate = Literal["success", "failure", "stuck"]
TaskPhase = Literal["queued", "running", "succeeded", "failed"]

_DURATION_SIGMA: Final = 0.25


@attrs.frozen
class TaskTimes:
    """
    A task's schedule and fate.

    Attributes:
        created_at: Emulator time of creation.
        start_at: When it leaves the queue.
        due_at: When it finishes or fails, as drawn (a stuck task never does).
        fate: ``success``, ``failure`` or ``stuck``.
    """

    created_at: float
    start_at: float
    due_at: float
    fate: TaskFate

    def phase_at(self, now: float) -> TaskPhase:
        """
        ``queued`` before ``start_at``, ``running`` until ``due_at`` (forever when stuck),
        then ``succeeded`` or ``failed``.
        """
        if now < self.start_at:
            return "queued"
        if now < self.due_at or self.fate == "stuck":
            return "running"
        return "failed" if self.fate == "failure" else "succeeded"

    @property
    def complete_at(self) -> float:
        """
        When the task ends; infinity for a stuck task.
        """
        return math.inf if self.fate == "stuck" else self.due_at


class TaskClock:
    """
    Draws task schedules from seeded streams of their own.

    Args:
        seed: Seeds the ``durations`` and ``fates`` streams.
        time_scale: Multiplies every duration (0.001 turns 22 s into 22 ms); positive.

    Raises:
        ValueError: For a time scale that is not positive.
    """

    def __init__(self, seed: int, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, got {time_scale!r}")
        self.time_scale = time_scale
        self._durations = random.Random(f"{seed}:durations")
        self._fates = random.Random(f"{seed}:fates")
        # When each running task frees its slot, for the task_concurrency knob.
        self._slots: list[float] = []

    def plan(self, now: float, typical: float, faults: FaultKnobs) -> TaskTimes:
        """
        Schedule a task created at *now*.

        Its duration is lognormal around *typical* seconds, clamped to half and twice of
        it, times the time scale; the first 5-15 % of it is spent queued.  With
        ``task_concurrency`` set, it starts on the first of that many slots to free up,
        in creation order (a stuck task holds its slot forever).  Its fate follows the
        ``task_failure_rate`` and ``task_stuck_rate`` knobs.
        """
        factor = min(2.0, max(0.5, math.exp(self._durations.gauss(0.0, _DURATION_SIGMA))))
        duration = typical * factor * self.time_scale
        queued = duration * self._durations.uniform(0.05, 0.15)
        draw = self._fates.random()
        fate: TaskFate = "success"
        if draw < faults.task_failure_rate:
            fate = "failure"
        elif draw < faults.task_failure_rate + faults.task_stuck_rate:
            fate = "stuck"
        start, due = now + queued, now + duration
        if faults.task_concurrency is None:
            self._slots.clear()
        else:
            start, due = self._schedule(start, duration - queued, fate, faults.task_concurrency)
        return TaskTimes(now, start, due, fate)

    def _schedule(
        self, ready: float, run: float, fate: TaskFate, slots: int
    ) -> tuple[float, float]:
        while len(self._slots) > slots:  # the knob was lowered
            heapq.heappop(self._slots)
        start = ready
        if len(self._slots) == slots:
            start = max(ready, heapq.heappop(self._slots))
        due = start + run
        heapq.heappush(self._slots, math.inf if fate == "stuck" else due)
        return start, due
