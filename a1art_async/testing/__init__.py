"""
An executable emulator of the a1.art Open API, for tests, demos and benchmarks.

In process::

    emu = Emulator(api_key="test-key", balance=100)
    async with httpx.AsyncClient(transport=emu.transport(), base_url=emu.api_origin) as c:
        ...

Over loopback HTTP: ``python -m a1art_async.testing serve --port 0``.
"""

from . import apps as apps
from ._asgi import ConnectionDropped as ConnectionDropped
from ._asgi import EmulatorASGI as EmulatorASGI
from ._faults import Faults as Faults
from ._files import jpeg_bytes as jpeg_bytes
from ._files import mp4_bytes as mp4_bytes
from ._files import png_bytes as png_bytes
from ._records import JournalEntry as JournalEntry
from ._records import TaskRecord as TaskRecord
from ._records import UploadRecord as UploadRecord
from ._state import Emulator as Emulator
from ._transport import EmulatorTransport as EmulatorTransport
from ._virtual_time import VirtualTimeEventLoop as VirtualTimeEventLoop

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
    "apps",
    "jpeg_bytes",
    "mp4_bytes",
    "png_bytes",
]
