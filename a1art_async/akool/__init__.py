"""
akool's image generation API (``createbyprompt``, ``createbybutton``,
``infobymodelid``) on the engine, with webhooks and polling together::

    from a1art_async import akool

    async with akool.AsyncClient() as client:        # AKOOL_API_KEY
        handle = await client.images.create("a lighthouse at dusk", scale="16:9")
        image = await handle.result()
        upscaled = await (await client.images.press(image, "U2")).result()

``a1art_async.testing.akool`` holds an emulator of the API.
"""

from __future__ import annotations

from . import webhooks as webhooks
from ._client import AsyncClient as AsyncClient
from ._config import BUTTONS as BUTTONS
from ._config import SCALES as SCALES
from ._errors import API_ERRORS as API_ERRORS
from ._errors import AccountBannedError as AccountBannedError
from ._errors import APIError as APIError
from ._errors import AuthenticationError as AuthenticationError
from ._errors import ContentNotOperableError as ContentNotOperableError
from ._errors import GenerationError as GenerationError
from ._errors import ImageFailedError as ImageFailedError
from ._errors import ImageOutcomeUnknown as ImageOutcomeUnknown
from ._errors import NotFoundError as NotFoundError
from ._errors import ParameterError as ParameterError
from ._errors import PermissionDeniedError as PermissionDeniedError
from ._errors import RateLimitError as RateLimitError
from ._errors import ServerError as ServerError
from ._errors import UnknownAPIError as UnknownAPIError
from ._errors import UnknownStatusError as UnknownStatusError
from ._errors import WebhookError as WebhookError
from ._handles import ImageHandle as ImageHandle
from ._handles import Outcome as Outcome
from ._jobs import Batch as Batch
from ._models import CreateRequest as CreateRequest
from ._models import Image as Image
from ._models import ImageStatus as ImageStatus
from ._models import PressRequest as PressRequest
from ._webhooks import WebhookEvent as WebhookEvent

__all__ = [
    "APIError",
    "API_ERRORS",
    "AccountBannedError",
    "AsyncClient",
    "AuthenticationError",
    "BUTTONS",
    "Batch",
    "ContentNotOperableError",
    "CreateRequest",
    "GenerationError",
    "Image",
    "ImageFailedError",
    "ImageHandle",
    "ImageOutcomeUnknown",
    "ImageStatus",
    "NotFoundError",
    "Outcome",
    "ParameterError",
    "PermissionDeniedError",
    "PressRequest",
    "RateLimitError",
    "SCALES",
    "ServerError",
    "UnknownAPIError",
    "UnknownStatusError",
    "WebhookError",
    "WebhookEvent",
    "webhooks",
]
