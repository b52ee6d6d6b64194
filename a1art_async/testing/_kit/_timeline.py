"""
The emulator's clock: one timeline that never runs backwards and never jumps when the
event loop changes.

An emulator may outlive the event loop it was first used on: a test builds one, runs a
batch under ``anyio.run``, and polls its tasks under a second ``anyio.run``.  Each loop
has a clock of its own (trio's starts at a random offset of hours, a virtual clock starts
at zero), so reading ``anyio.current_time()`` directly would make tasks created under the
first loop look hours from done, or long finished, under the second.

The timeline follows the running loop's clock at a fixed offset.  The offset is zero on
the first loop that reads it, so there emulator times *are* ``anyio.current_time()``;
when a different loop (or a custom clock that went backwards) reads it, the offset is
reset so that the timeline continues from its last reading: no time passes across the
change.  Outside any event loop, time stands still at the last reading.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
from anyio.lowlevel import RunVar

# One marker object per event loop run: a new run starts without one.
_LOOP_MARKER: RunVar[object] = RunVar("a1art_async.testing.loop")


def _current_loop() -> object:
    marker = _LOOP_MARKER.get(None)
    if marker is None:
        marker = object()
        _LOOP_MARKER.set(marker)
    return marker


class Timeline:
    """
    A monotonic clock, continuous across event loops.

    Args:
        clock: Returns the current time in seconds.  None (the default) follows
            ``anyio.current_time()`` of whichever event loop is running, so virtual-time
            loops drive the emulator.  A custom clock is followed as it is, except that
            it is never allowed to run backwards.
    """

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock
        self._offset = 0.0
        self._last: float | None = None
        self._loop: object | None = None
        self._started: float | None = None

    @property
    def started(self) -> float | None:
        """
        The first reading, or None before the timeline was read.
        """
        return self._started

    def now(self) -> float:
        """
        The current time on the timeline.

        Returns:
            The running loop's clock plus the offset; outside any event loop, the last
            reading.

        Raises:
            RuntimeError: Outside any event loop when the timeline was never read (with
                the default clock): there is no time to report yet.
        """
        if self._clock is not None:
            reading, loop = self._clock(), None
        else:
            try:
                reading, loop = anyio.current_time(), _current_loop()
            except RuntimeError:
                if self._last is None:
                    raise
                return self._last
        if self._last is None:
            self._started = reading
        elif loop is not self._loop or reading + self._offset < self._last:
            # Another loop's clock (or a clock that went back): carry on from the last
            # reading, so the change costs no time and no time is lost.
            self._offset = self._last - reading
        self._loop = loop
        self._last = reading + self._offset
        return self._last
