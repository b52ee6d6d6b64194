"""
The models the gateway emulator serves, each answering in one vendor's shape.

The docs name two vendors ("Volcanic Engine", "Alibaba Cloud Bailian") and leave the
shape of ``data`` to them; the catalog mixes their shapes with OpenAI's and two generic
task shapes, synchronous and asynchronous, so that a client meets every common way a
gateway may answer.
"""

from __future__ import annotations

from typing import Final, Literal

import attrs

from . import models

Shape = Literal["ark", "visual", "openai", "bailian", "generic", "camel"]
"""How a model's ``data`` reads: see ``_shapes.py``."""


@attrs.frozen
class Model:
    """
    One model of the catalog.

    Attributes:
        name: The ``model`` a request names.
        shape: How its answers read.
        synchronous: Whether the generation request answers with the images (else with
            a task id).
        typical: Seconds a generation takes, before the time scale; each draws around it.
        credits: Charged per accepted generation request, whatever ``n``.
        b64: Whether it answers base64 images unless the request asks for URLs
            (``response_format``).
    """

    name: str
    shape: Shape
    synchronous: bool
    typical: float
    credits: int = 1
    b64: bool = False


CATALOG: Final[dict[str, Model]] = {
    model.name: model
    for model in (
        Model(models.SEEDREAM, "ark", synchronous=True, typical=8.0),
        Model(models.JIMENG, "visual", synchronous=True, typical=6.0, b64=True),
        Model(models.GPT_IMAGE, "openai", synchronous=True, typical=20.0, credits=2, b64=True),
        Model(models.DALL_E, "openai", synchronous=True, typical=12.0),
        Model(models.WANX, "bailian", synchronous=False, typical=15.0),
        Model(models.WAN_PLUS, "bailian", synchronous=False, typical=30.0, credits=2),
        Model(models.FLUX, "generic", synchronous=False, typical=10.0),
        Model(models.KOLORS, "camel", synchronous=False, typical=20.0),
    )
}
