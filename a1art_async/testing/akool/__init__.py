"""
An executable emulator of akool's image generation API (``createbyprompt``,
``createbybutton``, ``infobymodelid``) with its webhooks, for tests, demos and
examples; it imports nothing from the SDK.

In process::

    emu = Emulator()
    async with akool.AsyncClient(api_key=emu.api_key, transport=emu.transport()) as c:
        ...

Over loopback HTTP: ``python -m a1art_async.testing.akool serve --port 0``.
"""

from ._emulator import Emulator as Emulator
from ._faults import Faults as Faults
from ._records import Account as Account
from ._records import ImageRecord as ImageRecord
from ._seal import seal as seal
from ._webhooks import WebhookDelivery as WebhookDelivery

__all__ = ["Account", "Emulator", "Faults", "ImageRecord", "WebhookDelivery", "seal"]
