"""
The batch journal: where every job stands, written before and after each step that
spends or could spend credits, so that a crash at any moment loses no job and pays for
none twice.

A job moves ``pending -> submitting -> submitted(taskId) -> done(files) | failed(error)``,
or ``submitting -> answered(result URLs) -> done`` when the API answered with the result
itself, or to ``unknown`` when a paid request may have been charged without an answer.  A job found
in ``submitting`` on restart died between sending and recording: it is reported as
outcome-unknown and not resubmitted unless the caller asks.

Storage sits behind :class:`JournalStore`; :class:`SQLiteJournal` (standard library,
one durable commit per write) and :class:`MemoryJournal` implement it.
"""

from __future__ import annotations

import enum
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, Final, Protocol, TypeVar

import anyio
import anyio.lowlevel
import attrs

T = TypeVar("T")


class JobState(enum.StrEnum):
    """
    Where a batch job stands.
    """

    PENDING = "pending"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    #: The paid request's answer carried the result itself (a synchronous API): its
    #: files are recorded, and only saving them is left.
    ANSWERED = "answered"
    DONE = "done"
    FAILED = "failed"
    UNKNOWN = "unknown"

    @property
    def is_final(self) -> bool:
        """
        Whether the job has ended (done, failed, or outcome unknown).
        """
        return self in (JobState.DONE, JobState.FAILED, JobState.UNKNOWN)


@attrs.frozen
class JobRecord:
    """
    One job's latest journal entry.

    Attributes:
        key: The job's key, unique within the journal.
        state: Where it stands.
        task_id: The taskId once submitted.
        files: Saved result files (or result URLs when nothing is downloaded, or when
            the job was answered and the files are still to be saved).
        error: A short description of the error that ended it.
        cost: Credits reserved for it when it was submitted (the estimate's top).
        updated: Unix time of the entry.
        route: Where the task's queries go (a1.art's region), to poll it again.
        hint: The duration the provider expected, in seconds, to time the polls.
        submitted_at: Unix time of the submission, to time the polls.
    """

    key: str
    state: JobState
    task_id: str | None = None
    files: tuple[str, ...] = ()
    error: str | None = None
    cost: int = 0
    updated: float = attrs.field(factory=time.time, eq=False)
    route: str | None = None
    hint: float | None = None
    submitted_at: float | None = None


class JournalStore(Protocol):
    """
    Durable storage of job records; every method may block, and is called from a worker
    thread.
    """

    def load(self) -> dict[str, JobRecord]:
        """
        Every record, by key.
        """
        ...

    def put(self, record: JobRecord) -> None:
        """
        Store a record durably before returning.
        """
        ...

    def close(self) -> None:
        """
        Release the storage.
        """
        ...


class MemoryJournal:
    """
    A journal that lives as long as the process: for tests and one-shot batches.
    """

    #: Its methods return at once: the batch calls them on the event loop, not in a
    #: worker thread (which would also let a virtual clock jump while it runs).
    blocking = False

    def __init__(self) -> None:
        self._records: dict[str, JobRecord] = {}

    def load(self) -> dict[str, JobRecord]:
        return dict(self._records)

    def put(self, record: JobRecord) -> None:
        self._records[record.key] = record

    def close(self) -> None:
        pass


#: Columns added after the first journal format, with their SQL types.
_ADDED_COLUMNS: Final = (("route", "TEXT"), ("hint", "REAL"), ("submitted_at", "REAL"))


class SQLiteJournal:
    """
    A journal in one SQLite file: WAL mode, ``synchronous=FULL``, one commit per write.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS jobs ("
            " key TEXT PRIMARY KEY, state TEXT NOT NULL, task_id TEXT, files TEXT NOT NULL,"
            " error TEXT, cost INTEGER NOT NULL, updated REAL NOT NULL)"
        )
        # Journals written before these columns existed gain them, empty.
        present = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        for column, kind in _ADDED_COLUMNS:
            if column not in present:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")

    def load(self) -> dict[str, JobRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, state, task_id, files, error, cost, updated, route, hint,"
                " submitted_at FROM jobs"
            ).fetchall()
        return {
            key: JobRecord(
                key=key,
                state=JobState(state),
                task_id=task_id,
                files=tuple(json.loads(files)),
                error=error,
                cost=cost,
                updated=updated,
                route=route,
                hint=hint,
                submitted_at=submitted_at,
            )
            for key, state, task_id, files, error, cost, updated, route, hint, submitted_at in rows
        }

    def put(self, record: JobRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs (key, state, task_id, files, error, cost, updated, route,"
                " hint, submitted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(key) DO UPDATE SET state=excluded.state,"
                " task_id=excluded.task_id, files=excluded.files, error=excluded.error,"
                " cost=excluded.cost, updated=excluded.updated, route=excluded.route,"
                " hint=excluded.hint, submitted_at=excluded.submitted_at",
                (
                    record.key,
                    record.state.value,
                    record.task_id,
                    json.dumps(list(record.files)),
                    record.error,
                    record.cost,
                    record.updated,
                    record.route,
                    record.hint,
                    record.submitted_at,
                ),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


class Journal:
    """
    The async face of a :class:`JournalStore`: records cached in memory, every write
    sent to storage in a worker thread before the step it guards goes ahead.
    """

    def __init__(self, store: JournalStore) -> None:
        self.store = store
        self._records: dict[str, JobRecord] = {}
        self._lock = anyio.Lock()
        # A store that says it never blocks is called on the loop (see MemoryJournal).
        self._inline = getattr(store, "blocking", True) is False

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        if self._inline:
            await anyio.lowlevel.checkpoint()
            return function(*args)
        return await anyio.to_thread.run_sync(function, *args)

    async def open(self) -> None:
        """
        Read what earlier runs recorded.
        """
        self._records = await self._call(self.store.load)

    def get(self, key: str) -> JobRecord | None:
        """
        The latest record of a job, if any.
        """
        return self._records.get(key)

    def records(self) -> dict[str, JobRecord]:
        """
        Every record, by key.
        """
        return dict(self._records)

    async def write(self, record: JobRecord) -> None:
        """
        Record a step durably, then remember it.
        """
        async with self._lock:
            await self._call(self.store.put, record)
            self._records[record.key] = record

    async def close(self) -> None:
        """
        Release the storage.
        """
        await self._call(self.store.close)
