"""
The emulator's state: accounts, and images with their whole future drawn at creation.
"""

from __future__ import annotations

from typing import Any, Final, Literal

import attrs

from .._kit import TaskTimes

BUTTONS: Final = ("U1", "U2", "U3", "U4", "V1", "V2", "V3", "V4")
#: What each image costs: the docs' own answers show ``"deduction_credit": 2`` for a
#: prompt and for a button.
CREDITS: Final = 2
#: Milliseconds since 1970 at emulator time 0: the docs' ``create_time`` example.
EPOCH_MS: Final = 1714032863272

ImageKind = Literal["prompt", "button"]


@attrs.define
class Account:
    """
    One API key: its client id, uid, what it was charged, and whether it is banned.
    """

    key: str
    client_id: str
    uid: int
    charged: int = 0
    creates: int = 0
    presses: int = 0
    banned: bool = False


@attrs.define
class ImageRecord:
    """
    One image: what was asked, by whom, and its schedule and fate.

    Attributes:
        id: Its ``_id`` (24 hex digits, as the docs' examples).
        key: The API key of its account.
        kind: ``prompt`` (createbyprompt) or ``button`` (createbybutton).
        times: When it leaves the queue, when it ends, and how.
        prompt, scale, source_image: What a prompt asked for.
        parent, button: What a press pressed.
        webhook_url: Where its status changes are posted (None: nowhere).
        used_buttons: Buttons pressed on it, in order, each once.
        children: The ids of the images pressed from it.
        forced_status: A raw ``image_status`` set by a test (``Emulator.force_status``).
    """

    id: str
    key: str
    kind: ImageKind
    times: TaskTimes
    prompt: str = ""
    scale: str = "1:1"
    source_image: str | None = None
    parent: str | None = None
    button: str | None = None
    webhook_url: str | None = None
    used_buttons: list[str] = attrs.Factory(list)
    children: list[str] = attrs.Factory(list)
    forced_status: Any = None

    def status_at(self, now: float) -> int:
        """
        1 queueing, 2 processing, 3 completed, 4 failed.
        """
        phase = self.times.phase_at(now)
        return {"queued": 1, "running": 2, "succeeded": 3, "failed": 4}[phase]

    @property
    def buttons_when_done(self) -> tuple[str, ...]:
        """
        A prompt's image and a variation are four pictures with eight buttons; a 4K
        upscale is one picture, with none.
        """
        if self.kind == "button" and (self.button or "").startswith("U"):
            return ()
        return BUTTONS
