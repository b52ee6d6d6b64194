"""
a1art_async: the asyncio-native SDK for the a1.art image and video generation Open API.

Start with :class:`AsyncClient`; ``a1art_async.testing`` holds an emulator of the API
for tests and demos.
"""

from __future__ import annotations

from ._batch import Batch as Batch
from ._client import (
    AsyncClient as AsyncClient,
)
from ._engine._batch import BatchOptions as BatchOptions
from ._engine._batch import BatchOutcome as BatchOutcome
from ._engine._batch import BatchSummary as BatchSummary
from ._engine._cost import CostEstimate as CostEstimate
from ._engine._errors import BudgetExceededError as BudgetExceededError
from ._engine._errors import OutcomeUnknown as OutcomeUnknown
from ._engine._events import Event as Event
from ._engine._events import EventKind as EventKind
from ._engine._handles import Completed as Completed
from ._engine._handles import Failed as Failed
from ._engine._journal import JobRecord as JobRecord
from ._engine._journal import JobState as JobState
from ._engine._journal import JournalStore as JournalStore
from ._engine._journal import MemoryJournal as MemoryJournal
from ._engine._journal import NotesStore as NotesStore
from ._engine._journal import SQLiteJournal as SQLiteJournal
from ._engine._learn import Durations as Durations
from ._engine._limiter import Priority as Priority
from ._engine._limiter import RateLimit as RateLimit
from ._engine._limiter import request_priority as request_priority
from ._engine._retry import RetryPolicy as RetryPolicy
from ._engine._schedule import PollPolicy as PollPolicy
from ._exceptions import (
    API_ERRORS as API_ERRORS,
)
from ._exceptions import (
    A1ArtError as A1ArtError,
)
from ._exceptions import (
    APIError as APIError,
)
from ._exceptions import (
    AppError as AppError,
)
from ._exceptions import (
    AppNotAPIEnabledError as AppNotAPIEnabledError,
)
from ._exceptions import (
    AppNotFoundError as AppNotFoundError,
)
from ._exceptions import (
    AppNotOwnedError as AppNotOwnedError,
)
from ._exceptions import (
    AppVersionOutdatedError as AppVersionOutdatedError,
)
from ._exceptions import (
    AuthenticationError as AuthenticationError,
)
from ._exceptions import (
    BalanceInsufficientError as BalanceInsufficientError,
)
from ._exceptions import (
    ConnectError as ConnectError,
)
from ._exceptions import (
    DownloadError as DownloadError,
)
from ._exceptions import (
    FileError as FileError,
)
from ._exceptions import (
    GenerationOutcomeUnknown as GenerationOutcomeUnknown,
)
from ._exceptions import (
    ImageDimensionsTooLargeError as ImageDimensionsTooLargeError,
)
from ._exceptions import (
    ImageTooLargeError as ImageTooLargeError,
)
from ._exceptions import (
    InvalidFileError as InvalidFileError,
)
from ._exceptions import (
    InvalidParamsError as InvalidParamsError,
)
from ._exceptions import (
    MissingImageFileError as MissingImageFileError,
)
from ._exceptions import (
    NotAnImageError as NotAnImageError,
)
from ._exceptions import (
    QuantityError as QuantityError,
)
from ._exceptions import (
    RateLimitError as RateLimitError,
)
from ._exceptions import (
    ResultExpiredError as ResultExpiredError,
)
from ._exceptions import (
    ServerError as ServerError,
)
from ._exceptions import (
    TaskFailedError as TaskFailedError,
)
from ._exceptions import (
    TaskTimeoutError as TaskTimeoutError,
)
from ._exceptions import (
    TimeoutError as TimeoutError,
)
from ._exceptions import (
    TooManyImagesError as TooManyImagesError,
)
from ._exceptions import (
    TransportError as TransportError,
)
from ._exceptions import (
    UnexpectedRedirectError as UnexpectedRedirectError,
)
from ._exceptions import (
    UnexpectedResponseError as UnexpectedResponseError,
)
from ._exceptions import (
    UnknownAPIError as UnknownAPIError,
)
from ._exceptions import (
    UnsupportedImageFormatError as UnsupportedImageFormatError,
)
from ._exceptions import (
    UnsupportedSuffixError as UnsupportedSuffixError,
)
from ._exceptions import (
    ValidationError as ValidationError,
)
from ._exceptions import (
    VIPRequiredError as VIPRequiredError,
)
from ._generation import GenerateOptions as GenerateOptions
from ._handles import Outcome as Outcome
from ._handles import (
    TaskHandle as TaskHandle,
)
from ._models import (
    App as App,
)
from ._models import (
    CnetPart as CnetPart,
)
from ._models import (
    DescriptionPart as DescriptionPart,
)
from ._models import (
    EnhanceRequest as EnhanceRequest,
)
from ._models import (
    Form as Form,
)
from ._models import (
    FormType as FormType,
)
from ._models import (
    GenerateRequest as GenerateRequest,
)
from ._models import (
    Input as Input,
)
from ._models import (
    Language as Language,
)
from ._models import (
    Size as Size,
)
from ._models import (
    Style as Style,
)
from ._models import (
    Task as Task,
)
from ._models import (
    TaskState as TaskState,
)
from ._models import (
    Upload as Upload,
)
from ._resources import (
    Apps as Apps,
)
from ._resources import (
    Images as Images,
)
from ._resources import (
    Tasks as Tasks,
)
from ._version import __version__ as __version__

__all__ = [
    "A1ArtError",
    "APIError",
    "API_ERRORS",
    "App",
    "AppError",
    "AppNotAPIEnabledError",
    "AppNotFoundError",
    "AppNotOwnedError",
    "AppVersionOutdatedError",
    "Apps",
    "AsyncClient",
    "AuthenticationError",
    "BalanceInsufficientError",
    "Batch",
    "BatchOptions",
    "BatchOutcome",
    "BatchSummary",
    "BudgetExceededError",
    "CnetPart",
    "Completed",
    "ConnectError",
    "CostEstimate",
    "DescriptionPart",
    "DownloadError",
    "Durations",
    "EnhanceRequest",
    "Event",
    "EventKind",
    "Failed",
    "FileError",
    "Form",
    "FormType",
    "GenerateOptions",
    "GenerateRequest",
    "GenerationOutcomeUnknown",
    "ImageDimensionsTooLargeError",
    "ImageTooLargeError",
    "Images",
    "Input",
    "InvalidFileError",
    "InvalidParamsError",
    "JobRecord",
    "JobState",
    "JournalStore",
    "Language",
    "MemoryJournal",
    "MissingImageFileError",
    "NotAnImageError",
    "NotesStore",
    "Outcome",
    "OutcomeUnknown",
    "PollPolicy",
    "Priority",
    "QuantityError",
    "RateLimit",
    "RateLimitError",
    "ResultExpiredError",
    "RetryPolicy",
    "SQLiteJournal",
    "ServerError",
    "Size",
    "Style",
    "Task",
    "TaskFailedError",
    "TaskHandle",
    "TaskState",
    "TaskTimeoutError",
    "Tasks",
    "TimeoutError",
    "TooManyImagesError",
    "TransportError",
    "UnexpectedRedirectError",
    "UnexpectedResponseError",
    "UnknownAPIError",
    "UnsupportedImageFormatError",
    "UnsupportedSuffixError",
    "Upload",
    "VIPRequiredError",
    "ValidationError",
    "__version__",
    "request_priority",
]
