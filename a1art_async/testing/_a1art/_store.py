"""
The emulator's mutable state: accounts, app versions, uploads, tasks, seeded randomness.

Endpoints read and change it through the methods here; nothing in this module knows about
HTTP.  Randomness comes from independent streams seeded from one seed (ids here; task
durations, task fates and fault draws in the kit), so turning a fault knob on never
changes which ids or durations a run draws.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from datetime import datetime, timedelta
from typing import Final

import attrs

from .._kit import BoundedCache, FileHost, Pixels, TaskClock, TaskTimes, Timeline
from .._kit._tasks import TaskFate
from ._catalog import CATALOG, App
from ._faults import Faults
from ._records import TaskKind, TaskRecord, UploadRecord

EPOCH: Final = datetime(2024, 6, 21, 9, 58, 16)
"""The wall-clock date the emulator's clock starts at (the docs' task example)."""

ENHANCE_SECONDS: Final = 10
"""Typical duration of an enhance (optimize) task before ``time_scale``."""

# sizeId -> the result picture's pixel size, keeping the documented aspect ratios.
RESULT_SIZES: Final = {
    "1": (256, 256),
    "2": (192, 256),
    "3": (128, 256),
    "4": (256, 192),
    "5": (256, 128),
    "6": (256, 144),
    "7": (144, 256),
}

ENHANCED_SIDE: Final = 256
"""The longer side of an enhance result, which keeps its source's aspect."""

_STATES: Final = {"queued": 0, "running": 30, "succeeded": 10, "failed": 20}


@attrs.define
class Account:
    """
    One API key's credits and counters.
    """

    balance: int
    vip: bool
    charged: int = 0
    generate_calls: int = 0


@attrs.frozen
class TaskPlan:
    """
    A task's whole future, drawn at creation; its state at any time follows from it.
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
    ext: str
    result_size: tuple[int, int]
    uploads: tuple[str, ...] = ()
    size_id: str | None = None
    style_id: str | None = None
    prompt: str | None = None

    @property
    def times(self) -> TaskTimes:
        """
        Its schedule and fate, as the kit's task clock drew them.
        """
        return TaskTimes(self.created_at, self.start_at, self.due_at, self.fate)

    def state_at(self, now: float) -> int:
        """
        The documented state number at emulator time *now*: 0, 30, then 10 or 20.
        """
        return _STATES[self.times.phase_at(now)]

    @property
    def complete_at(self) -> float:
        """
        When the task reaches state 10 or 20; infinity for a stuck task.
        """
        return self.times.complete_at

    def file_names(self) -> list[str]:
        """
        The result file names under ``/results/<taskId>/``.
        """
        return [f"{n}.{self.ext}" for n in range(self.generate_num)]

    def result_urls(self, cdn_origin: str) -> tuple[str, ...]:
        """
        Result URLs on *cdn_origin*.
        """
        return tuple(f"{cdn_origin}/results/{self.task_id}/{name}" for name in self.file_names())

    def snapshot(self, now: float, cdn_origin: str) -> TaskRecord:
        """
        The public record as of *now*.
        """
        state = self.state_at(now)
        return TaskRecord(
            task_id=self.task_id,
            data_id=self.data_id,
            kind=self.kind,
            app_id=self.app_id,
            key=self.key,
            generate_num=self.generate_num,
            cost=self.cost,
            created_at=self.created_at,
            start_at=self.start_at,
            due_at=self.due_at,
            fate=self.fate,
            state=state,
            images=self.result_urls(cdn_origin) if state == 10 else (),
            uploads=self.uploads,
            size_id=self.size_id,
            style_id=self.style_id,
            prompt=self.prompt,
        )


class Store:
    """
    All mutable state of one emulator.
    """

    def __init__(
        self,
        *,
        seed: int,
        timeline: Timeline,
        task_clock: TaskClock,
        files: FileHost,
        cdn_origin: str,
        cdn_cn_origin: str,
    ) -> None:
        self.cdn_origin = cdn_origin
        self.cdn_cn_origin = cdn_cn_origin
        self.accounts: dict[str, Account] = {}
        self.uploads: dict[str, UploadRecord] = {}
        self.tasks: dict[str, TaskPlan] = {}
        self.timeline = timeline
        self.task_clock = task_clock
        self.files = files
        self._versions: dict[str, tuple[str, str]] = {
            app.id: (app.version_id, app.updated) for app in CATALOG.values()
        }
        self._since_bump: dict[str, int] = {}
        self._ids = random.Random(f"{seed}:ids")
        # Result pictures are drawn when first downloaded; these keep the latest.
        self.pictures: BoundedCache[tuple[str, int], bytes] = BoundedCache(64)
        self.decoded: BoundedCache[str, Pixels | None] = BoundedCache(16)

    # -- time ---------------------------------------------------------------------------

    def now(self) -> float:
        """
        The emulator's time (see :class:`Timeline`); its first reading is :data:`EPOCH`.
        """
        return self.timeline.now()

    def date(self, when: float) -> str:
        """
        Format timeline time *when* as the service does: ``2024-06-21 09:58:16.0``.
        """
        started = self.timeline.started
        anchor = self.now() if started is None else started
        moment = EPOCH + timedelta(seconds=when - anchor)
        return moment.strftime("%Y-%m-%d %H:%M:%S") + ".0"

    # -- apps -----------------------------------------------------------------------------

    def version(self, app_id: str) -> str:
        """
        The app's current ``versionId``.
        """
        return self._versions[app_id][0]

    def updated(self, app_id: str) -> str:
        """
        The app's current ``updateDate``.
        """
        return self._versions[app_id][1]

    def bump(self, app_id: str) -> str:
        """
        Republish an app: draw a new ``versionId`` and stamp ``updateDate``.

        Returns:
            The new version id.
        """
        version = self._numeric_id()
        self._versions[app_id] = (version, self.date(self.now()))
        self._since_bump[app_id] = 0
        return version

    def note_generation(self, app: App, bump_after: int | None) -> None:
        """
        Count a successful generation and republish after every *bump_after* of them.
        """
        count = self._since_bump.get(app.id, 0) + 1
        self._since_bump[app.id] = count
        if bump_after is not None and count >= bump_after:
            self.bump(app.id)

    # -- accounts -------------------------------------------------------------------------

    def charge(self, key: str, credits: int) -> None:
        """
        Take *credits* from *key* (the caller checked the balance).
        """
        account = self.accounts[key]
        account.balance -= credits
        account.charged += credits

    # -- uploads --------------------------------------------------------------------------

    @staticmethod
    def upload_path(key: str) -> str:
        """
        The per-key ``path`` uploads return; a hash of the key, never the key itself.
        """
        digest = hashlib.sha256(b"a1art-emulator:" + key.encode()).hexdigest()[:32]
        return f"assets/application/apikey_{digest}/form/"

    def add_upload(
        self, key: str, data: bytes, size: tuple[int, int], ext: str, source: str
    ) -> UploadRecord:
        """
        Remember an accepted upload under a fresh ``<uuid4>.<ext>`` name.
        """
        name = f"{uuid.UUID(int=self._ids.getrandbits(128), version=4)}.{ext}"
        record = UploadRecord(key, name, self.upload_path(key), data, size[0], size[1], source)
        self.uploads[name] = record
        return record

    def find_upload(self, key: str, path: str, image_url: str) -> UploadRecord | None:
        """
        The upload *key* made under *path* and *image_url*, or None.
        """
        record = self.uploads.get(image_url)
        if record is None or record.key != key or record.path != path:
            return None
        return record

    # -- tasks ----------------------------------------------------------------------------

    def _numeric_id(self) -> str:
        return str(self._ids.randrange(1_800_000_000_000_000_000, 1_900_000_000_000_000_000))

    def new_task(
        self,
        *,
        kind: TaskKind,
        app: App | None,
        key: str,
        generate_num: int,
        cost: int,
        result_size: tuple[int, int],
        faults: Faults,
        uploads: tuple[str, ...] = (),
        size_id: str | None = None,
        style_id: str | None = None,
        prompt: str | None = None,
    ) -> TaskPlan:
        """
        Create a task, drawing its id, duration and fate; *uploads*, *size_id*,
        *style_id* and *prompt* are what it was asked for (its results are drawn from
        them).

        The kit's task clock draws its schedule around the app's ``processTime`` (10 s
        for an enhance): lognormal, clamped to half and twice of it, times
        ``time_scale``, the first 5-15 % of it spent queued in state 0.
        """
        task_id = f"{self._ids.getrandbits(128):032x}"
        while task_id in self.tasks:
            task_id = f"{self._ids.getrandbits(128):032x}"
        typical = app.process_time if app is not None else ENHANCE_SECONDS
        times = self.task_clock.plan(self.now(), typical, faults)
        plan = TaskPlan(
            task_id=task_id,
            data_id=self._numeric_id(),
            kind=kind,
            app_id=app.id if app is not None else None,
            key=key,
            generate_num=generate_num,
            cost=cost,
            created_at=times.created_at,
            start_at=times.start_at,
            due_at=times.due_at,
            fate=times.fate,
            ext=app.result_ext if app is not None else "png",
            result_size=result_size,
            uploads=uploads,
            size_id=size_id,
            style_id=style_id,
            prompt=prompt,
        )
        self.tasks[task_id] = plan
        return plan
