"""
An executable emulator of the a1.art Open API, for tests, demos and benchmarks.

In process::

    emu = Emulator(api_key="test-key", balance=100)
    async with httpx.AsyncClient(transport=emu.transport(), base_url=emu.api_origin) as c:
        ...

Over loopback HTTP: ``python -m a1art_async.testing serve --port 0``.

``a1art_async.testing.akool`` emulates akool's image API the same way.
``a1art_async.testing.gateway`` is the AI gateway's emulator, on the same kit.

The emulator is built on a kit that knows no API (``_kit``: transport, ASGI app, server,
journal, fault knobs, clock, file host); a1.art's own state, catalog, codes and endpoints
live in ``_a1art``.
"""

from . import akool as akool
from . import apps as apps
from . import gateway as gateway
from ._a1art._emulator import Emulator as Emulator
from ._a1art._faults import Faults as Faults
from ._a1art._records import TaskRecord as TaskRecord
from ._a1art._records import UploadRecord as UploadRecord
from ._kit import ConnectionDropped as ConnectionDropped
from ._kit import EmulatorASGI as EmulatorASGI
from ._kit import EmulatorTransport as EmulatorTransport
from ._kit import JournalEntry as JournalEntry
from ._kit import VirtualTimeEventLoop as VirtualTimeEventLoop
from ._kit import jpeg_bytes as jpeg_bytes
from ._kit import mp4_bytes as mp4_bytes
from ._kit import png_bytes as png_bytes

__all__ = [
    "ConnectionDropped",
    "Emulator",
    "EmulatorASGI",
    "EmulatorTransport",
    "Faults",
    "JournalEntry",
    "TaskRecord",
    "UploadRecord",
    "VirtualTimeEventLoop",
    "akool",
    "apps",
    "gateway",
    "jpeg_bytes",
    "mp4_bytes",
    "png_bytes",
]
