"""
Batches of a1.art generations: ``client.batch(...)``.

::

    async with client.batch(concurrency=8, journal="run.sqlite", download_to="out/") as batch:
        for row in rows:
            batch.add(app_id, image=row.image, prompt=row.prompt, key=row.id)
        async for outcome in batch:      # completion order; each job exactly once
            ...

The engine (``_engine/_batch.py``) runs the batch: journal, budget, concurrency,
waiting, downloads and events.  This module says what an a1.art job is: checked against
the app's forms and priced (free), its images uploaded (free), then one generate (paid);
its task is picked up again from the journal by id, region and ``processTime``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any, Unpack

import attrs

from ._engine._batch import Batch as _Batch
from ._engine._batch import ResultFile
from ._engine._cost import CostEstimate
from ._engine._journal import JobRecord
from ._engine._retry import SpendGuard
from ._exceptions import ValidationError
from ._forms import Plan
from ._generation import GenerateArgs, GenerateOptions, Generator
from ._handles import TaskHandle
from ._models import App, Language, Size, Task, Upload
from ._resources import Tasks


def derive_key(app_id: str, args: GenerateArgs) -> str:
    """
    A stable key for a job from what it asks for (image paths and URLs by name, bytes by
    content).

    Raises:
        ValidationError: An image given as a file object; pass ``key=`` for those.
    """

    def describe(value: Any) -> Any:
        if isinstance(value, Upload):
            return ["upload", value.path, value.image_url]
        if isinstance(value, bytes | bytearray | memoryview):
            return ["sha256", hashlib.sha256(bytes(value)).hexdigest()]
        if isinstance(value, str | os.PathLike):
            return os.fspath(value)
        if isinstance(value, Size):
            return value.value
        if isinstance(value, Mapping):
            return {str(k): describe(v) for k, v in sorted(value.items())}
        if isinstance(value, Sequence):
            return [describe(v) for v in value]
        if isinstance(value, io.IOBase) or hasattr(value, "read"):
            raise ValidationError("key", "jobs with file-object images need an explicit key=")
        return value

    payload = {
        "app": app_id,
        **{k: describe(v) for k, v in attrs.asdict(args, recurse=False).items()},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


class A1ArtJob:
    """
    One generation of a batch, as the engine runs it.
    """

    __slots__ = (
        "_app",
        "_args",
        "_checked",
        "_generator",
        "_language",
        "_tasks",
        "_uploads",
        "key",
    )

    def __init__(
        self,
        key: str,
        app: App | str,
        args: GenerateArgs,
        *,
        generator: Generator,
        tasks: Tasks,
        language: str | Language | None,
    ) -> None:
        self.key = key
        self._app = app
        self._args = args
        self._generator = generator
        self._tasks = tasks
        self._language = language
        self._checked: Plan | None = None
        self._uploads: list[Upload] = []

    async def check(self) -> CostEstimate:
        app = await self._generator.app(self._app, self._language)
        self._app = app
        self._checked = self._args.plan(app)
        return self._checked.cost

    async def prepare(self) -> None:
        assert self._checked is not None
        self._uploads = await self._generator.upload_all(self._checked)

    async def submit(self, guard: SpendGuard) -> TaskHandle:
        assert self._checked is not None
        assert isinstance(self._app, App)
        return await self._generator.submit_checked(
            self._app, self._args, self._checked, self._uploads, self._language, guard
        )

    def resume(self, record: JobRecord) -> TaskHandle:
        assert record.task_id is not None
        submitted = record.submitted_at
        handle = self._tasks.track(
            record.task_id,
            region="cn" if record.route == "cn" else "global",
            submitted_at=None
            if submitted is None
            else dt.datetime.fromtimestamp(submitted, dt.UTC),
        )
        handle.hint = record.hint
        # Its app's family, so that resumed tasks are polled (and teach) as their app's.
        handle.app_id = handle.family = self._app.id if isinstance(self._app, App) else self._app
        return handle

    def files(self, result: Any) -> Sequence[ResultFile]:
        task: Task = result
        return [ResultFile(url=url) for url in task.images]


class Batch(_Batch):
    """
    A batch of generations; create it with :meth:`AsyncClient.batch`.
    """

    def __init__(
        self,
        *,
        generator: Generator,
        tasks: Tasks,
        language: str | Language | None = None,
        **engine: Any,
    ) -> None:
        super().__init__(**engine)
        self._generator = generator
        self._tasks = tasks
        self._language = language

    def add(
        self, app: App | str, *, key: str | None = None, **options: Unpack[GenerateOptions]
    ) -> str:
        """
        Queue one generation; images are read only when the job's turn comes.

        Args:
            app: The app, or its id.
            key: The job's key in the journal; derived from the arguments if left out.
            **options: As for :meth:`AsyncClient.generate` (see :class:`GenerateOptions`).

        Returns:
            The job's key.

        Raises:
            ValidationError: A key used twice in this batch.
        """
        if not self.running:
            raise RuntimeError("add jobs inside `async with client.batch(...) as batch:`")
        args = GenerateArgs(**options)
        app_id = app.id if isinstance(app, App) else app
        job_key = key if key is not None else derive_key(app_id, args)
        return self.add_job(
            A1ArtJob(
                job_key,
                app,
                args,
                generator=self._generator,
                tasks=self._tasks,
                language=self._language,
            )
        )
