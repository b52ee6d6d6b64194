"""
The AI gateway's image generation API (``POST {BASE_URL}/api/v1/images/generations``):
one call that answers now or later.

::

    from a1art_async import gateway

    async with gateway.AsyncClient(api_key=..., base_url=...) as client:
        job = await client.images.submit("doubao-seedream-3-0-t2i", prompt="a lighthouse")
        result = await job.result()   # at once for a synchronous model, else polled
        await client.download(result, "out/")

``a1art_async.testing.gateway`` holds an emulator of the API; ``docs/gateway.md``
says what the SDK and the emulator do where the docs are silent.
"""

from __future__ import annotations

from .._engine._errors import A1ArtError as A1ArtError
from .._engine._errors import ConnectError as ConnectError
from .._engine._errors import DownloadError as DownloadError
from .._engine._errors import ResultExpiredError as ResultExpiredError
from .._engine._errors import TaskFailedError as TaskFailedError
from .._engine._errors import TaskTimeoutError as TaskTimeoutError
from .._engine._errors import TimeoutError as TimeoutError
from .._engine._errors import TransportError as TransportError
from .._engine._errors import UnexpectedRedirectError as UnexpectedRedirectError
from .._engine._errors import UnexpectedResponseError as UnexpectedResponseError
from .._engine._errors import ValidationError as ValidationError
from .._engine._handles import JobStatus as JobStatus
from ._batch import Batch as Batch
from ._client import AsyncClient as AsyncClient
from ._errors import API_ERRORS as API_ERRORS
from ._errors import APIError as APIError
from ._errors import AuthenticationError as AuthenticationError
from ._errors import GenerationOutcomeUnknown as GenerationOutcomeUnknown
from ._errors import InvalidParamsError as InvalidParamsError
from ._errors import NoImageError as NoImageError
from ._errors import RateLimitError as RateLimitError
from ._errors import ServerError as ServerError
from ._errors import UnknownAPIError as UnknownAPIError
from ._errors import UnknownStateError as UnknownStateError
from ._jobs import Generation as Generation
from ._jobs import Outcome as Outcome
from ._models import GenerationRequest as GenerationRequest
from ._models import Image as Image
from ._models import Result as Result
from ._models import Task as Task
from ._resources import Images as Images
from ._resources import Tasks as Tasks

__all__ = [
    "A1ArtError",
    "APIError",
    "API_ERRORS",
    "AsyncClient",
    "AuthenticationError",
    "Batch",
    "ConnectError",
    "DownloadError",
    "Generation",
    "GenerationOutcomeUnknown",
    "GenerationRequest",
    "Image",
    "Images",
    "InvalidParamsError",
    "JobStatus",
    "NoImageError",
    "Outcome",
    "RateLimitError",
    "Result",
    "ResultExpiredError",
    "ServerError",
    "Task",
    "TaskFailedError",
    "TaskTimeoutError",
    "Tasks",
    "TimeoutError",
    "TransportError",
    "UnexpectedRedirectError",
    "UnexpectedResponseError",
    "UnknownAPIError",
    "UnknownStateError",
    "ValidationError",
]
