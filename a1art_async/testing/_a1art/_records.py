"""
What the emulator lets a test inspect besides the journal: task and upload records.

Both are frozen snapshots; the emulator keeps its own state and hands these out, so a
test holding one never sees it change underneath.
"""

from __future__ import annotations

from typing import Literal

import attrs

from .._kit._tasks import TaskFate as TaskFate

TaskKind = Literal["generate", "optimize"]


@attrs.frozen
class TaskRecord:
    """
    A task as of the moment it was looked up.

    Attributes:
        task_id: The 32-hex ``taskId`` the create call returned.
        data_id: The 19-digit ``id`` the task query returns (a different number).
        kind: ``generate`` or ``optimize``.
        app_id: The app, or None for an enhance (optimize) task.
        key: The API key that created it.
        generate_num: Result files it produces on success.
        cost: Credits charged for it.
        created_at: Clock time of creation.
        start_at: Clock time it leaves the queue (state 0 -> 30).
        due_at: Clock time it finishes or fails, as drawn (stuck tasks never reach it).
        fate: ``success``, ``failure`` or ``stuck``, drawn at creation.
        state: 0, 30, 10 or 20 at lookup time.
        images: Result URLs on the global CDN once state is 10, else empty.
        uploads: The ``imageUrl`` of each upload it used, in position order (the
            enhanced upload for an enhance).
        size_id: The ``sizeId`` it asked for, if any.
        style_id: The ``styleId`` it asked for, if any.
        prompt: Its description values joined by ``" / "``, if any.
    """

    task_id: str
    data_id: str
    kind: TaskKind
    app_id: str | None
    key: str
    generate_num: int
    cost: int
    created_at: float
    start_at: float
    due_at: float
    fate: TaskFate
    state: int
    images: tuple[str, ...]
    uploads: tuple[str, ...] = ()
    size_id: str | None = None
    style_id: str | None = None
    prompt: str | None = None


@attrs.frozen
class UploadRecord:
    """
    An image uploaded through ``/images/upload``.

    Attributes:
        key: The API key that uploaded it; only that key may use it.
        image_url: The ``imageUrl`` returned (``<uuid4>.<ext>``).
        path: The ``path`` returned (per key).
        data: The file's bytes.
        width: Pixels across.
        height: Pixels down.
        source: ``file`` or the ``imageUrl`` it was fetched from.
    """

    key: str
    image_url: str
    path: str
    data: bytes = attrs.field(repr=False)
    width: int
    height: int
    source: str
