"""
The gateway's errors: one class per documented code under :class:`APIError`, and the
errors of a generation that ended without what it was paid for.

The tree (the shared errors come from ``_engine/_errors.py``)::

    A1ArtError
    ├── ValidationError              bad input, raised before any request is sent
    ├── APIError                     the envelope said ``success: false``
    │   ├── InvalidParamsError       "400" Invalid request parameters
    │   ├── AuthenticationError      "401" Unauthorized
    │   ├── RateLimitError           "429" Rate limit exceeded (Retry-After honoured)
    │   ├── ServerError              "500", "502", "503", "504" (or HTTP 5xx)
    │   └── UnknownAPIError          a code the docs do not list
    ├── UnexpectedResponseError      not the envelope (an HTML 502 page, broken JSON)
    ├── UnexpectedRedirectError      the API redirected; the key is never sent after it
    ├── TransportError               the request did not complete
    │   ├── ConnectError             never reached the server
    │   └── TimeoutError             no answer in time
    ├── GenerationOutcomeUnknown     a generation may have been charged; not resent
    ├── UnknownStateError            a task state no usual spelling covers: the wait ends
    ├── TaskFailedError              the task ended failed (or canceled, or unknown)
    │   └── NoImageError             it finished, but its answer holds no image
    ├── TaskTimeoutError             a wait passed its deadline; the task goes on
    └── DownloadError                a result file could not be saved
        └── ResultExpiredError       the result URL answered 403/404/410

Codes map to classes through :data:`API_ERRORS`; ``code`` is a string, as documented.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from .._engine._errors import A1ArtError, OutcomeUnknown, TaskFailedError, code_table
from .._engine._errors import APIError as _APIError

if TYPE_CHECKING:
    from ._models import GenerationRequest, Task


class APIError(_APIError):
    """
    The gateway answered ``success: false``.

    Attributes:
        code: The envelope's ``code``, a string such as ``"400"``.
        message: The envelope's ``message``.
        status: The HTTP status.
        retry_after: Seconds the server asked to wait, when it said so.
    """

    code: str

    def __init__(
        self,
        code: str,
        message: str = "",
        *,
        status: int = 200,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, message, status=status, retry_after=retry_after)

    def __str__(self) -> str:
        return f"gateway error {self.code}: {self.message or '(no message)'}"


class InvalidParamsError(APIError):
    """
    The request's parameters were refused ("400", "Invalid request parameters"):
    the model, or a vendor parameter.  Nothing was charged.
    """

    codes: ClassVar[tuple[int | str, ...]] = ("400",)


class AuthenticationError(APIError):
    """
    The key is missing or not valid ("401", "Unauthorized").
    """

    codes: ClassVar[tuple[int | str, ...]] = ("401",)


class RateLimitError(APIError):
    """
    Too many requests ("429", "Rate limit exceeded"); nothing was done.
    """

    codes: ClassVar[tuple[int | str, ...]] = ("429",)
    transient: ClassVar[bool] = True


class ServerError(APIError):
    """
    The service failed (a 5xx code in the envelope, or on the HTTP status).
    """

    codes: ClassVar[tuple[int | str, ...]] = ("500", "502", "503", "504")
    transient: ClassVar[bool] = True


class UnknownAPIError(APIError):
    """
    A code the docs do not list; ``code`` and ``message`` are kept as sent.
    """


#: Every documented code (and the server codes) and the class it raises.
API_ERRORS: dict[int | str, type[APIError]] = code_table(APIError)


def api_error(
    code: str, message: str = "", *, status: int = 200, retry_after: float | None = None
) -> APIError:
    """
    The error for an envelope's ``code``, through :data:`API_ERRORS`.
    """
    cls = API_ERRORS.get(code, UnknownAPIError)
    return cls(code, message, status=status, retry_after=retry_after)


class GenerationOutcomeUnknown(OutcomeUnknown):
    """
    A generation request may have reached the gateway, and been charged, but no answer
    says what became of it (a read timeout, a dropped connection, a 5xx, a body that
    is not the envelope).  It was not sent again: only the caller can decide to pay
    again.  For a synchronous model the answer was the images themselves.

    Attributes:
        request: The request (model and parameters), to send again if the caller wants.
        cause: What went wrong after the request was sent.
    """

    request: GenerationRequest

    def __init__(self, request: GenerationRequest, cause: BaseException) -> None:
        super().__init__(request, cause)


class UnknownStateError(A1ArtError):
    """
    A task reported a state that none of the usual spellings covers (or none at all,
    and no image): waiting for it ends here instead of polling forever.

    Attributes:
        state: The state as sent (``None`` when the answer had none).
        data: The answer's ``data``, as sent.
        task_id: The task.
    """

    def __init__(self, state: object, data: Any, *, task_id: str | None = None) -> None:
        where = f"task {task_id}" if task_id else "the answer"
        if state is None:
            text = f"{where} has no state and no image"
        else:
            text = f"{where} is in a state this SDK does not know: {state!r}"
        super().__init__(text)
        self.state = state
        self.data = data
        self.task_id = task_id


class NoImageError(TaskFailedError):
    """
    The generation finished, but its answer holds no image this SDK can find (in any
    of the common shapes).  It was paid for and is not sent again; ``task.data`` is
    the answer as sent.

    Attributes:
        task: The :class:`Task` (its ``data`` is the raw answer).
        task_id: Its id (a local id for a synchronous answer).
    """

    task: Task

    def __init__(self, task: Task) -> None:
        super().__init__(
            task,
            task_id=task.task_id,
            reason="the answer holds no image in any shape this SDK knows; see .task.data",
        )
