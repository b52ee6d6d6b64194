"""
The errors every API shares.  Each provider adds its own :class:`APIError` subtree with a
code table (:func:`code_table`); everything else a provider raises comes from here.

The tree::

    A1ArtError                       the root of every error of this library, any API
    ├── ValidationError              bad input, raised before any request is sent
    ├── APIError                     the API answered with an error code (per provider)
    ├── UnexpectedResponseError      not the API's documented envelope (HTML 502, bad JSON)
    ├── UnexpectedRedirectError      the API redirected; the key is never sent after it
    ├── TransportError               the request did not complete
    │   ├── ConnectError             never reached the server
    │   └── TimeoutError             no answer in time
    ├── OutcomeUnknown               a paid request may have been acted on; not resent
    ├── TaskFailedError              the job ended failed on the server
    ├── TaskTimeoutError             a wait passed its deadline; the job goes on
    ├── BudgetExceededError          a batch job would take the spend over its budget
    └── DownloadError                a result file could not be saved
        └── ResultExpiredError       the result URL answered 403/404/410
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar


class A1ArtError(Exception):
    """
    The root of every error this library raises, whichever API it talks to.
    """


class ValidationError(A1ArtError, ValueError):
    """
    Input that the API would reject, caught before any request or credit is spent.

    Attributes:
        field: The parameter or form field at fault.
        reason: What is wrong with it.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class APIError(A1ArtError):
    """
    The API answered with an error code.  Each provider subclasses it once per API, and
    once per documented code (listed in ``codes``), then maps codes to classes with
    :func:`code_table`.

    Attributes:
        code: The code as the API sent it (an integer, or a string for some APIs).
        message: The API's message.
        status: The HTTP status of the response.
        retry_after: Seconds the server asked to wait, when it said so.
    """

    codes: ClassVar[tuple[int | str, ...]] = ()
    #: Whether the error says nothing about the request itself (rate limited, the
    #: server failing): a wait that meets it polls again instead of giving up.
    transient: ClassVar[bool] = False

    def __init__(
        self,
        code: int | str,
        message: str = "",
        *,
        status: int = 200,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"API error {self.code}: {self.message}"


E = TypeVar("E", bound=APIError)


def code_table(root: type[E]) -> dict[int | str, type[E]]:
    """
    Every code listed by *root* and its subclasses, mapped to its class.

    Raises:
        RuntimeError: A code listed twice (a programming error, caught by tests).
    """
    table: dict[int | str, type[E]] = {}
    pending: list[type[E]] = [root]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        for code in cls.codes:
            if code in table:  # pragma: no cover - a programming error
                raise RuntimeError(f"code {code!r} mapped twice")
            table[code] = cls
    return table


class UnexpectedResponseError(A1ArtError):
    """
    The response was not the documented JSON envelope: an HTML error page, truncated
    JSON, or fields of the wrong type.

    Attributes:
        status: The HTTP status.
        excerpt: The start of the body, with the API key removed.
    """

    def __init__(self, reason: str, *, status: int, excerpt: str = "") -> None:
        text = f"{reason} (HTTP {status})"
        if excerpt:
            text += f": {excerpt!r}"
        super().__init__(text)
        self.reason = reason
        self.status = status
        self.excerpt = excerpt


class UnexpectedRedirectError(A1ArtError):
    """
    The API answered with a redirect; it is not followed, so the key never leaves the
    API's origin.
    """

    def __init__(self, status: int, location: str) -> None:
        super().__init__(f"the API redirected (HTTP {status}) to {location!r}; not followed")
        self.status = status
        self.location = location


class TransportError(A1ArtError):
    """
    The request did not complete: the connection failed, dropped or timed out.
    """


class ConnectError(TransportError):
    """
    The connection could not be established: the request never reached the server.
    """


class TimeoutError(TransportError):
    """
    No answer arrived in time.
    """


class OutcomeUnknown(A1ArtError):
    """
    A request that spends credits may have reached the server, and credits may have been
    spent, but no answer says whether it was acted on.  It was not sent again.

    Attributes:
        request: The request, so the caller can decide to send it again.
        cause: What went wrong after the request was sent.
    """

    def __init__(self, request: Any, cause: BaseException) -> None:
        super().__init__(
            f"the {type(request).__name__} may have reached the server and spent credits, "
            f"but no answer came back ({type(cause).__name__}: {cause}); it was not resent"
        )
        self.request = request
        self.cause = cause


class TaskFailedError(A1ArtError):
    """
    The task (a job on the server) ended failed.

    Attributes:
        task_id: The task's id.
        task: The task as the API last described it.
    """

    def __init__(self, task: Any, *, task_id: str | None = None, reason: str = "") -> None:
        task_id = task_id if task_id is not None else str(getattr(task, "task_id", "?"))
        super().__init__(f"task {task_id} failed" + (f": {reason}" if reason else ""))
        self.task = task
        self.task_id = task_id


class TaskTimeoutError(A1ArtError):
    """
    A wait passed its deadline; the task itself goes on and can be waited for again.

    Attributes:
        task_id: The task.
        waited: Seconds the wait lasted.
        last_state: The state the latest answered poll saw (``None``: none answered).
        last_error: Why the latest poll failed, when it did (the API unreachable, say).
    """

    def __init__(
        self,
        task_id: str,
        waited: float,
        last_state: Any = None,
        *,
        last_error: BaseException | None = None,
    ) -> None:
        text = f"task {task_id} not finished after waiting {waited:.1f} s"
        if last_error is not None:
            text += f"; the last poll failed: {last_error}"
        elif last_state is None:
            text += "; no poll was answered"
        super().__init__(text)
        self.task_id = task_id
        self.waited = waited
        self.last_state = last_state
        self.last_error = last_error


class BudgetExceededError(A1ArtError):
    """
    A job was not submitted because it could take the batch over its credit budget.
    """


class DownloadError(A1ArtError):
    """
    A result file could not be saved.
    """

    def __init__(self, url: str, reason: str, *, status: int | None = None) -> None:
        super().__init__(f"download of {url} failed: {reason}")
        self.url = url
        self.reason = reason
        self.status = status


class ResultExpiredError(DownloadError):
    """
    The result URL answered 403, 404 or 410: results "may become invalid later".
    """


#: Errors that say nothing about the request itself: a wait polls again after them.
_TRANSIENT_TYPES = (TransportError, UnexpectedResponseError)


def is_transient(error: BaseException) -> bool:
    """
    Whether *error* says nothing about the job (the API unreachable, rate limited,
    failing, or answering garbage): a wait tries again, a batch job stays pending.
    """
    return isinstance(error, _TRANSIENT_TYPES) or (isinstance(error, APIError) and error.transient)
