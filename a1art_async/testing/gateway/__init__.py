"""
An executable emulator of the AI gateway's image generation API, for tests and demos.

In process::

    from a1art_async.testing.gateway import Emulator, models

    emu = Emulator(api_key="test-key")
    async with gateway.AsyncClient(
        api_key="test-key", base_url=emu.api_origin, transport=emu.transport()
    ) as client:
        result = await client.images.generate(models.SEEDREAM, prompt="a lighthouse")

Over loopback HTTP: ``python -m a1art_async.testing.gateway serve --port 0``.  Built on
the emulator kit (``a1art_async.testing._kit``); it imports nothing from the SDK.  The
choices it makes where the docs are silent are in ``docs/gateway.md``.
"""

from . import models as models
from ._catalog import CATALOG as CATALOG
from ._catalog import Model as Model
from ._emulator import Emulator as Emulator
from ._faults import Faults as Faults
from ._records import GenerationRecord as GenerationRecord

__all__ = ["CATALOG", "Emulator", "Faults", "GenerationRecord", "Model", "models"]
