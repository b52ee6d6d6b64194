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
one durable commit per write) and :class:`MemoryJournal` implement it.  A journal shared
by several processes (PostgreSQL, in ``a1art_async.distributed``) implements
:class:`SharedJournalStore` instead: records are read by key, in pages, never loaded
whole, and every write is a compare-and-set transition that names the states it may
leave, so that at most one process anywhere moves a job from ``pending`` to
``submitting`` and sends its paid request.
"""

from __future__ import annotations

import enum
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, Final, Protocol, TypeVar, runtime_checkable

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


class NotesStore(Protocol):
    """
    A journal store that also keeps a batch's notes: small named texts beside the jobs,
    such as what the scheduler learned of task durations, for the next run.  Optional:
    a store without these methods keeps no notes.
    """

    def get_note(self, name: str) -> str | None:
        """
        The note called *name*, if any.
        """
        ...

    def put_note(self, name: str, text: str) -> None:
        """
        Store the note called *name* durably before returning.
        """
        ...


@runtime_checkable
class SharedJournalStore(Protocol):
    """
    A journal several processes share: read by key, written by compare-and-set.

    Its methods are coroutines run on the event loop.  Every write is a transition: it
    takes effect only if the job's stored state is one of ``expect`` (``None`` standing
    for a job with no record yet), and says whether it did.  The store adds what the
    engine does not know about: which process holds a job (a transition out of
    ``submitting`` succeeds only for the process that moved it in), who wrote each row,
    and the batch's credit budget, reserved atomically with the move into
    ``submitting`` and given back with a move from ``submitting`` to ``pending``.
    """

    async def open(self) -> None:
        """
        Connect; nothing is read yet.
        """
        ...

    async def fetch(self, keys: Sequence[str]) -> dict[str, JobRecord]:
        """
        The records of *keys* that exist, by key (one round trip).
        """
        ...

    async def transition(self, record: JobRecord, expect: Collection[JobState | None]) -> bool:
        """
        Store *record* if the job's state is one of *expect*; whether it was stored.

        Raises:
            BudgetExceededError: A move into ``submitting`` would take the batch's
                credits past its budget; nothing was stored.
        """
        ...

    async def close(self) -> None:
        """
        Release the connection.
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
        self._notes: dict[str, str] = {}

    def load(self) -> dict[str, JobRecord]:
        return dict(self._records)

    def put(self, record: JobRecord) -> None:
        self._records[record.key] = record

    def get_note(self, name: str) -> str | None:
        return self._notes.get(name)

    def put_note(self, name: str, text: str) -> None:
        self._notes[name] = text

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
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS notes (name TEXT PRIMARY KEY, text TEXT NOT NULL)"
        )

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

    def get_note(self, name: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT text FROM notes WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def put_note(self, name: str, text: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO notes (name, text) VALUES (?, ?)"
                " ON CONFLICT(name) DO UPDATE SET text = excluded.text",
                (name, text),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


class Journal:
    """
    The async face of a journal store: records cached in memory, every write sent to
    storage (in a worker thread, for a :class:`JournalStore` that may block) before the
    step it guards goes ahead.

    A :class:`SharedJournalStore` is read by key as jobs come (:meth:`lookup`, or
    :meth:`remember` for records the caller already read), its records are forgotten
    once their job ends, and its writes are compare-and-set: :meth:`write` says
    whether the transition took place.  A :class:`JournalStore` is loaded whole on
    :meth:`open` and written unconditionally, as before.
    """

    def __init__(self, store: JournalStore | SharedJournalStore) -> None:
        self.store = store
        self._records: dict[str, JobRecord] = {}
        self._lock = anyio.Lock()
        self._shared: SharedJournalStore | None = (
            store if isinstance(store, SharedJournalStore) else None
        )
        # A store that says it never blocks is called on the loop (see MemoryJournal).
        self._inline = getattr(store, "blocking", True) is False

    @property
    def shared(self) -> bool:
        """
        Whether the store is shared by several processes (compare-and-set writes).
        """
        return self._shared is not None

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        if self._inline:
            await anyio.lowlevel.checkpoint()
            return function(*args)
        return await anyio.to_thread.run_sync(function, *args)

    async def open(self) -> None:
        """
        Read what earlier runs recorded (a shared store: connect only).
        """
        if self._shared is not None:
            await self._shared.open()
            return
        assert not isinstance(self.store, SharedJournalStore)
        self._records = await self._call(self.store.load)

    def get(self, key: str) -> JobRecord | None:
        """
        The latest record of a job, if any (of those read so far, for a shared store).
        """
        return self._records.get(key)

    async def lookup(self, key: str) -> JobRecord | None:
        """
        The latest record of a job: from memory, else (a shared store) from storage.
        """
        record = self._records.get(key)
        if record is None and self._shared is not None:
            record = (await self._shared.fetch([key])).get(key)
            if record is not None:
                self._records[key] = record
        return record

    def remember(self, records: Iterable[JobRecord]) -> None:
        """
        Records the caller read from a shared store itself (a page of them, say).
        """
        for record in records:
            self._records[record.key] = record

    def forget(self, key: str) -> None:
        """
        The job ended: a shared store's record need not stay in memory.
        """
        if self._shared is not None:
            self._records.pop(key, None)

    def records(self) -> dict[str, JobRecord]:
        """
        Every record, by key (those read so far, for a shared store).
        """
        return dict(self._records)

    async def write(
        self, record: JobRecord, expect: Collection[JobState | None] | None = None
    ) -> bool:
        """
        Record a step durably, then remember it.

        Args:
            record: The job's new record.
            expect: The states the job may be in for the step to happen (a shared
                store checks it in the same statement; a local store, whose one
                process is the only writer, ignores it).

        Returns:
            Whether the step was recorded (always, for a local store).
        """
        if self._shared is not None:
            # The database orders concurrent transitions; no lock is held across them.
            if expect is None:
                expect = (None, *JobState)
            if not await self._shared.transition(record, expect):
                return False
            self._records[record.key] = record
            return True
        assert not isinstance(self.store, SharedJournalStore)
        async with self._lock:
            await self._call(self.store.put, record)
            self._records[record.key] = record
        return True

    async def note(self, name: str) -> str | None:
        """
        The batch's note called *name*, if the store keeps notes (see
        :class:`NotesStore`) and has one.
        """
        get = getattr(self.store, "get_note", None)
        if self._shared is not None or get is None:
            return None
        found: str | None = await self._call(get, name)
        return found

    async def write_note(self, name: str, text: str) -> None:
        """
        Keep *text* as the batch's note called *name* (nothing, for a store without
        notes).
        """
        put = getattr(self.store, "put_note", None)
        if self._shared is not None or put is None:
            return
        async with self._lock:
            await self._call(put, name, text)

    async def close(self) -> None:
        """
        Release the storage.
        """
        if self._shared is not None:
            await self._shared.close()
            return
        assert not isinstance(self.store, SharedJournalStore)
        await self._call(self.store.close)
