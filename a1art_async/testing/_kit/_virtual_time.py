"""
Virtual time for asyncio, the counterpart of trio's ``MockClock(autojump_threshold=0)``.

An event loop whose clock only moves when every task is waiting on a timer: then it jumps
straight to the next deadline instead of sleeping.  A test that waits for a 5 s poll
interval, a 22 s generation and a 45 s backoff cap finishes in milliseconds, and the
timings it observes are exact.

Only in-process I/O is safe under it (the emulator's transport): a task waiting on a real
socket looks idle to the loop, which would jump past its timeouts.
"""

from __future__ import annotations

import asyncio
import selectors


class _JumpingSelector(selectors.DefaultSelector):
    """
    A selector that, instead of blocking until the next timer, tells the loop to jump.
    """

    def __init__(self, loop: VirtualTimeEventLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready or timeout is None or timeout <= 0:
            # Nothing is scheduled (timeout None) means only I/O or a thread can wake the
            # loop: block for real, as a jump would have nowhere to go.
            return ready if ready or timeout is not None else super().select(None)
        self._loop.advance(timeout)
        return []


class VirtualTimeEventLoop(asyncio.SelectorEventLoop):
    """
    An asyncio loop on virtual time that jumps to the next timer whenever it is idle.

    Use it through anyio: ``anyio.run(main, backend_options={"loop_factory":
    VirtualTimeEventLoop})`` or, in pytest, an ``anyio_backend`` of
    ``("asyncio", {"loop_factory": VirtualTimeEventLoop})``.
    """

    def __init__(self) -> None:
        self._virtual_now = 0.0
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self._virtual_now

    def advance(self, seconds: float) -> None:
        """
        Move the clock forward by *seconds* (never backwards).
        """
        if seconds > 0:
            self._virtual_now += seconds

    def __repr__(self) -> str:
        return f"<VirtualTimeEventLoop now={self._virtual_now:.3f}>"
