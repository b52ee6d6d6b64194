"""
One accepted generation, as the emulator keeps it, and the snapshot tests read.
"""

from __future__ import annotations

import math
from typing import Final, Literal

import attrs

from .._kit import TaskTimes
from ._catalog import Model

Phase = Literal["queued", "running", "succeeded", "failed", "forgotten"]

BAILIAN_TTL: Final = 24 * 3600.0
"""DashScope keeps a task's result queryable for 24 hours after it was created."""

ResponseFormat = Literal["url", "b64_json"]


@attrs.define
class Generation:
    """
    One accepted (and charged) generation request.

    Attributes:
        id: The task id (asynchronous models) or the answer's own id (synchronous).
        key: The API key that asked.
        model: The model.
        prompt: The prompt, which the result pictures are drawn from.
        count: How many images (``n``).
        response_format: URLs or base64 images.
        size: The requested pixel size, when it was given as ``WxH`` or ``W*H``.
        return_url: The visual style's ``return_url`` (URLs besides base64).
        created_at: Emulator time of acceptance.
        answered_at: When a synchronous model's answer is ready (its run time later).
        times: An asynchronous task's schedule and fate, drawn at creation.
        odd_state: The task reports an unrecognised state word while it runs.
    """

    id: str
    key: str
    model: Model
    prompt: str
    count: int
    response_format: ResponseFormat
    size: tuple[int, int] | None
    return_url: bool
    created_at: float
    answered_at: float | None = None
    times: TaskTimes | None = None
    odd_state: bool = False

    @property
    def complete_at(self) -> float:
        """
        When it ends: a synchronous answer when it is ready, a task as drawn (infinity
        for a stuck task).
        """
        if self.times is None:
            return self.answered_at if self.answered_at is not None else self.created_at
        return self.times.complete_at

    def forgotten_at(self, task_ttl: float | None) -> float:
        """
        When the service forgets the task: ``task_ttl`` after it ended, else 24 hours
        after creation for a Bailian-style task, else never.
        """
        if self.times is None:
            return math.inf
        if task_ttl is not None:
            return self.complete_at + task_ttl
        return self.created_at + BAILIAN_TTL if self.model.shape == "bailian" else math.inf

    def phase_at(self, now: float, task_ttl: float | None) -> Phase:
        """
        Where it stands at emulator time *now*.
        """
        if self.times is None:
            return "succeeded"
        if now >= self.forgotten_at(task_ttl):
            return "forgotten"
        return self.times.phase_at(now)

    def snapshot(self, now: float, task_ttl: float | None) -> GenerationRecord:
        """
        The record tests read, as of *now*.
        """
        return GenerationRecord(
            id=self.id,
            key=self.key,
            model=self.model.name,
            synchronous=self.model.synchronous,
            prompt=self.prompt,
            count=self.count,
            credits=self.model.credits,
            created_at=self.created_at,
            complete_at=self.complete_at,
            fate="success" if self.times is None else self.times.fate,
            phase=self.phase_at(now, task_ttl),
        )


@attrs.frozen
class GenerationRecord:
    """
    A generation as the emulator sees it at one moment.

    Attributes:
        id: Its task id, or a synchronous answer's own id.
        key: The API key that asked.
        model: The model's name.
        synchronous: Whether the request answered with the images.
        prompt: The prompt.
        count: Images asked for.
        credits: What it was charged.
        created_at: Emulator time it was accepted (and charged).
        complete_at: When it ends (infinity for a stuck task).
        fate: ``success``, ``failure`` or ``stuck``.
        phase: ``queued``, ``running``, ``succeeded``, ``failed`` or ``forgotten``.
    """

    id: str
    key: str
    model: str
    synchronous: bool
    prompt: str
    count: int
    credits: int
    created_at: float
    complete_at: float
    fate: str
    phase: Phase
