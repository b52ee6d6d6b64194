"""
A task group owned by an object's ``async with`` block: entered in ``__aenter__``,
left in ``__aexit__``.  The client core (for its polling scheduler) and the batch (for
its workers) both live this way; this is the one place that knows how.
"""

from __future__ import annotations

from types import TracebackType

import anyio
from anyio.abc import TaskGroup


class OwnedGroup:
    """
    One task group, entered and left by hand on behalf of an ``async with`` block.
    """

    __slots__ = ("_group",)

    def __init__(self) -> None:
        self._group: TaskGroup | None = None

    @property
    def group(self) -> TaskGroup:
        """
        The running task group.

        Raises:
            RuntimeError: Not entered.
        """
        if self._group is None:
            raise RuntimeError("not running: use it with `async with`")
        return self._group

    @property
    def running(self) -> bool:
        """
        Whether the group was entered and not yet left.
        """
        return self._group is not None

    async def enter(self) -> TaskGroup:
        """
        Enter a new task group.

        Raises:
            RuntimeError: Entered already.
        """
        if self._group is not None:
            raise RuntimeError("open already; enter it once")
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group = group
        return group

    async def abort(self, error: BaseException) -> None:
        """
        Leave the group after *error* broke its start (then re-raise *error*).
        """
        group, self._group = self._group, None
        if group is not None:
            group.cancel_scope.cancel()
            await group.__aexit__(type(error), error, error.__traceback__)

    async def exit(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        """
        Leave the group, waiting for its tasks; the block's own exception comes back as
        it was raised, not wrapped in an ``ExceptionGroup``.  The group stays running
        until its tasks have ended: one that is finishing a step the cancellation
        cannot interrupt (a write in a worker thread) may still start another task,
        which is then cancelled at once.
        """
        group = self._group
        if group is None:
            return None
        try:
            return await group.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as errors:
            if exc is not None and [exc] == list(errors.exceptions):
                return False
            raise
        finally:
            self._group = None
