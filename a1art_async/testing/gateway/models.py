"""
The emulator's model catalog, by name, for tests and examples::

    from a1art_async.testing.gateway import models

    job = await client.images.submit(models.SEEDREAM, prompt="a lighthouse")

Synchronous models answer the generation request with the images; asynchronous ones
with a task id to query at ``/api/v1/tasks/{task_id}``.  See ``docs/gateway.md``.
"""

from __future__ import annotations

from typing import Final

#: Volcano Engine Ark style, synchronous: ``data[].url`` (``b64_json`` on request), 8 s.
SEEDREAM: Final = "doubao-seedream-3-0-t2i"
#: Volcano Engine visual style, synchronous: ``binary_data_base64`` (and
#: ``image_urls`` with ``return_url: true``), 6 s.
JIMENG: Final = "jimeng-high-aes-general-v21"
#: OpenAI style, synchronous, always ``b64_json``, 20 s, 2 credits.
GPT_IMAGE: Final = "gpt-image-1"
#: OpenAI style, synchronous: ``data[].url`` (``b64_json`` on request), 12 s.
DALL_E: Final = "dall-e-3"
#: Alibaba Bailian (DashScope) style, asynchronous: ``output.task_status``, 15 s.
WANX: Final = "wanx2.1-t2i-turbo"
#: Alibaba Bailian (DashScope) style, asynchronous, 30 s, 2 credits.
WAN_PLUS: Final = "wan2.2-t2i-plus"
#: A generic task, asynchronous: ``task_id``, lower-case ``status``, ``result.images``, 10 s.
FLUX: Final = "flux-schnell"
#: Another generic task, asynchronous: ``taskId``, ``state`` (``IN_PROGRESS``,
#: ``COMPLETED``), ``image_urls``, 20 s.
KOLORS: Final = "kolors"

SYNCHRONOUS: Final = (SEEDREAM, JIMENG, GPT_IMAGE, DALL_E)
ASYNCHRONOUS: Final = (WANX, WAN_PLUS, FLUX, KOLORS)
