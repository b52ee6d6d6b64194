"""
Results on stdout: text for people, or one JSON document with ``--json``.

Progress and errors go to stderr (see ``_progress``); nothing but results is written to
stdout, so ``a1art ... --json | jq`` always reads one document.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

import attrs
from rich.console import Console
from rich.table import Table

from .._models import App, Task, Upload

#: Tables printed to a pipe or file are laid out at least this wide.
PIPED_WIDTH = 120


def jsonable(value: Any) -> Any:
    """
    *value* as plain JSON types: attrs classes as objects, enums by value, dates in ISO
    8601, paths as strings.
    """
    if attrs.has(type(value)):
        return {
            field.name.lstrip("_"): jsonable(getattr(value, field.name))
            for field in attrs.fields(type(value))
            if not field.name.startswith("_")
        }
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


def task_json(task: Task) -> dict[str, Any]:
    """
    A task as ``--json`` prints it, with its state by name.
    """
    body: dict[str, Any] = jsonable(task)
    body["state"] = task.state.name.lower()
    body["state_code"] = int(task.state)
    return body


def upload_json(upload: Upload) -> dict[str, Any]:
    """
    An upload as ``--json`` prints it (width and height are read locally).
    """
    return {
        "image_url": upload.image_url,
        "path": upload.path,
        "width": upload.width,
        "height": upload.height,
    }


def app_json(app: App) -> dict[str, Any]:
    """
    An app's details as ``--json`` prints them.
    """
    body: dict[str, Any] = jsonable(app)
    body["kind"] = app_kind(app)
    body["cost_rule"] = cost_rule(app)
    return body


def app_kind(app: App) -> str:
    """
    What kind of app it is, as far as its details tell: group photos place several
    images by position; an app with a ``cost`` may be a node app (or a video app), or a
    form app (the docs' own form app carries one), so it is not called either.
    """
    if app.is_group_photo:
        return "group photo"
    if app.cost is not None:
        return "form or node"
    return "form"


def cost_rule(app: App) -> str:
    """
    The documented charge, in words.
    """
    if app.cost is not None:
        return (
            f"1 credit per image as a form app, {app.cost} credits per generation as a "
            "node app (its details do not say which)"
        )
    return "1 credit per image"


class Output:
    """
    Where a command's results go.

    Args:
        json_mode: Print one JSON document instead of text.
        stdout: The stream for results (``sys.stdout`` when ``None``).
    """

    def __init__(self, *, json_mode: bool, stdout: TextIO | None = None) -> None:
        self.json_mode = json_mode
        self._stream = stdout or sys.stdout
        self.console = Console(file=self._stream, highlight=False, soft_wrap=True)
        if not self.console.is_terminal:
            # Piped or redirected: wide enough that ids and URLs stay on one line.
            self.console.width = max(self.console.width, PIPED_WIDTH)

    def emit(self, document: Mapping[str, Any], text: Callable[[Console], None]) -> None:
        """
        Print a result: *document* as JSON with ``--json``, else what *text* prints.
        """
        if self.json_mode:
            self._stream.write(json.dumps(jsonable(document), ensure_ascii=False, indent=2))
            self._stream.write("\n")
            self._stream.flush()
        else:
            text(self.console)


def table(*columns: str, title: str | None = None) -> Table:
    """
    A table in the command's house style; columns named with a leading ``>`` are
    right-aligned.
    """
    result = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for column in columns:
        if column.startswith(">"):
            result.add_column(column[1:], justify="right", overflow="fold")
        else:
            result.add_column(column, overflow="fold")
    return result
