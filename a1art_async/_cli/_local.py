"""
Local preconditions, checked before anything is sent or spent.

A command must not find out only after submitting, waiting and paying that it cannot
read an input or save a result.  So, first: ``--out`` is a directory, or can be created
as one, and is writable; each input file exists, is a file and can be read; a batch's
journal can be written.  Each failure is one line and exit status 2 (usage), as any
other input refused before anything was sent.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ._exit import UsageError

#: Something with a scheme (``https://``, ``data:``): the SDK judges those, not the disk.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")


def check_out(value: str | None, flag: str = "--out") -> None:
    """
    Check that results can be saved under *value*: an existing directory, or a path
    whose nearest existing ancestor is a directory, writable either way.

    Raises:
        UsageError: Naming *flag* and what is wrong.
    """
    if value is None:
        return
    if not value.strip():
        raise UsageError(f"{flag}: the directory is empty")
    path = Path(value)
    probe = path
    while not os.path.lexists(probe) and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        if probe == path:
            raise UsageError(f"{flag} {value}: exists and is not a directory")
        raise UsageError(f"{flag} {value}: {probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        where = "the directory" if probe == path else str(probe)
        raise UsageError(f"{flag} {value}: {where} is not writable")


def check_input(value: str, name: str | None = None) -> None:
    """
    Check that the image file *value* exists, is a file and can be read (URLs are left
    to the SDK).

    Args:
        value: The path or URL as given.
        name: The flag it was given with (``--image``); ``None`` for an argument.

    Raises:
        UsageError: What is wrong with the file.
    """
    reason = input_problem(value)
    if reason is not None:
        raise UsageError(reason if name is None else f"{name}: {reason}")


def input_problem(value: str, base: Path | None = None) -> str | None:
    """
    What is wrong with the input file *value* (relative to *base*), or ``None``.
    """
    path = Path(value) if base is None else base / value
    if not os.path.lexists(path):
        if _SCHEME.match(value):
            return None  # a URL: uploaded by the server, or refused by the SDK
        return f"no such file: {value!r}"
    if path.is_dir():
        return f"{value!r} is a directory, not an image file"
    if not path.is_file():
        return f"{value!r} is not a regular file"
    try:
        with path.open("rb"):
            pass
    except OSError as error:
        return f"cannot read {value!r}: {error.strerror or error}"
    return None


def check_journal(path: Path, *, given: bool) -> None:
    """
    Check that the batch journal at *path* can be opened and written: an existing file,
    or a new one in an existing, writable directory (SQLite writes beside it too).

    Args:
        path: The journal.
        given: It was named with ``--journal`` (else it is the default beside the file).

    Raises:
        UsageError: What is wrong, and the option that chooses another journal.
    """
    label = f"--journal {path}" if given else f"the journal {path}"
    elsewhere = "" if given else " (pass --journal FILE somewhere writable)"
    if os.path.lexists(path) and not path.is_file():
        raise UsageError(f"{label}: exists and is not a file")
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"{label}: the directory {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{label}: the directory {folder} is not writable{elsewhere}")
    if path.is_file() and not os.access(path, os.R_OK | os.W_OK):
        raise UsageError(f"{label}: the journal cannot be read and written{elsewhere}")
