"""
Exit statuses, and every error as the one line the command prints.

========  ============================================================================
status    meaning
========  ============================================================================
0         success
1         any other error (a local file that fails once the work has started, an
          unexpected failure; ``-v`` shows a traceback)
2         usage, found before anything is sent: bad arguments, no API key, a missing or
          unreadable input file, an ``--out`` that is not a writable directory, an
          unreadable job file or unwritable journal, input the SDK refuses, the ``cli``
          extra missing
3         the API answered with an error code (the line shows it and both messages)
4         no usable answer: connection, timeout, unexpected response, a generate whose
          outcome is unknown, a download, or a wait past its deadline
5         the task failed (state 20)
6         a batch ended with failed or unknown jobs (the others are done)
130       interrupted (Ctrl-C); a batch resumes from its journal when run again
========  ============================================================================
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
from collections.abc import Iterator, Mapping
from typing import Any

from .._engine._errors import APIError
from .._exceptions import (
    A1ArtError,
    DownloadError,
    GenerationOutcomeUnknown,
    TaskFailedError,
    TaskTimeoutError,
    TransportError,
    UnexpectedRedirectError,
    UnexpectedResponseError,
    ValidationError,
)
from ._fields import FLAGS, validation_text


class ExitCode(enum.IntEnum):
    """
    The documented exit statuses of the ``a1art`` command.
    """

    OK = 0
    ERROR = 1
    USAGE = 2
    API = 3
    SERVICE = 4
    TASK_FAILED = 5
    PARTIAL = 6
    INTERRUPTED = 130


class UsageError(Exception):
    """
    The command line or its input files are wrong; nothing was sent.
    """


class InContext(Exception):
    """
    *error*, with what the command was doing when it happened (``app 123 (line 4)``).
    """

    def __init__(self, context: str, error: BaseException) -> None:
        super().__init__(f"{context}: {error}")
        self.context = context
        self.error = error


#: The first matching class decides the status.
_STATUS: tuple[tuple[type[BaseException], ExitCode], ...] = (
    (UsageError, ExitCode.USAGE),
    (ValidationError, ExitCode.USAGE),
    (APIError, ExitCode.API),
    (TaskFailedError, ExitCode.TASK_FAILED),
    (TransportError, ExitCode.SERVICE),
    (UnexpectedResponseError, ExitCode.SERVICE),
    (UnexpectedRedirectError, ExitCode.SERVICE),
    (GenerationOutcomeUnknown, ExitCode.SERVICE),
    (DownloadError, ExitCode.SERVICE),
    (TaskTimeoutError, ExitCode.SERVICE),
    (A1ArtError, ExitCode.SERVICE),
)


def exit_code(error: BaseException) -> ExitCode:
    """
    The status a command exits with after *error*.
    """
    if isinstance(error, InContext):
        return exit_code(error.error)
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return ExitCode.ERROR


#: How :func:`describe` names the field of refused input when not told (see
#: :func:`naming`).
_NAMES: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "a1art_cli_names", default=FLAGS
)


@contextlib.contextmanager
def naming(names: Mapping[str, str]) -> Iterator[None]:
    """
    Within the block, :func:`describe` names fields with *names* unless told otherwise:
    a batch names its rows' fields by the job file's columns, in every line it prints.
    """
    token = _NAMES.set(names)
    try:
        yield
    finally:
        _NAMES.reset(token)


def describe(error: BaseException, names: Mapping[str, str] | None = None) -> str:
    """
    The error as one line: an API error with its code and both messages, input the SDK
    refused with the flag (or, with *names* = ``COLUMNS``, the job file's column) at fault.
    """
    if names is None:
        names = _NAMES.get()
    if isinstance(error, InContext):
        return f"{error.context}: {describe(error.error, names)}"
    if isinstance(error, ValidationError):
        text = validation_text(error, names)
    elif isinstance(error, APIError):
        # Every API's errors (a1.art's, the gateway's) derive from the engine's.
        text = f"API error {error.code}: {error.message or '(no message)'}"
        if getattr(error, "msg_cn", ""):
            text += f" / {getattr(error, 'msg_cn', '')}"
    elif isinstance(error, A1ArtError | UsageError):
        text = str(error)
    elif isinstance(error, OSError) and error.filename is not None:
        text = f"{error.strerror or type(error).__name__}: {error.filename}"
    else:
        text = f"{type(error).__name__}: {error}"
    return " ".join(text.split())


def error_json(error: BaseException, names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """
    The error as ``--json`` prints it: its type, line and status, and for API errors
    the code and both messages.
    """
    inner = error.error if isinstance(error, InContext) else error
    body: dict[str, Any] = {
        "type": type(inner).__name__,
        "message": describe(error, names),
        "exit_code": int(exit_code(error)),
    }
    if isinstance(inner, APIError):
        body.update(code=inner.code, msg=inner.message)
        if hasattr(inner, "msg_cn"):
            body["msg_cn"] = inner.msg_cn
    return body
