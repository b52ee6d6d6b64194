"""
The ids of the apps the emulator is seeded with, one constant per kind of app.

Each id is a 19-digit numeric string, like the service's.  Any other id answers
``324012`` ("This app does not exist").
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ALL",
    "FOREIGN_UNPUBLISHED",
    "FORM",
    "GROUP_PHOTO",
    "NODE",
    "NO_API",
    "TEXT",
    "VIDEO",
    "VIP",
]

FORM: Final = "1803632078862147586"
"""The documented "Crazy Pet": cnet, description with inputs and tags, style, size."""

TEXT: Final = "1805127734470791170"
"""Text to image: a description without inputs, style and size; no picture needed."""

NODE: Final = "1809876251337605122"
"""A node app costing 2 credits per generation, cnet and description, one image a call."""

GROUP_PHOTO: Final = "1811204530198429698"
"""A group photo: two cnet forms at positions "0" and "1", plus style and size."""

VIDEO: Final = "1822330154667220994"
"""Image to video: cnet and description, 10 credits a video, results are .mp4 files."""

VIP: Final = "1815561873920577538"
"""A form app only vip keys may generate with (324019 otherwise); its details are public."""

NO_API: Final = "1807712245831405570"
"""An app that refuses API access (324010) on every endpoint."""

FOREIGN_UNPUBLISHED: Final = "1820048216604938241"
"""Someone else's unpublished app (324018) on every endpoint."""

ALL: Final = (FORM, TEXT, NODE, GROUP_PHOTO, VIDEO, VIP, NO_API, FOREIGN_UNPUBLISHED)
"""Every seeded id, in the order above."""
