"""
The SDK's names for what is wrong, in the command line's own words.

The SDK's :class:`~a1art_async.ValidationError` names a Python argument (``field`` is
``"aspect"``, ``"size"``, ``"generate_num"``...) and its reasons mention keyword
arguments (``needs an image (image= or images=)``).  A command names its flags instead
(``--aspect``, ``--image``), and a job file its columns (``aspect``, ``images``): the two
tables here are the only place where one becomes the other.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .._exceptions import ValidationError

#: ``ValidationError.field`` (and ``name=`` in a reason) -> the flag that sets it.
FLAGS: Mapping[str, str] = {
    "image": "--image",
    "images": "--image",
    "prompt": "--prompt",
    "prompts": "--prompt",
    "tags": "--tag",
    "style": "--style",
    "aspect": "--aspect",
    "size": "--aspect",
    "count": "--count",
    "generate_num": "--count",
    "language": "--language",
    "api_key": "--api-key",
    "base_url": "--base-url",
    "region": "--region",
    "concurrency": "--concurrency",
    "budget": "--budget",
    "app_id": "APP_ID",
    "token": "TASK_ID|TOKEN",
    "task_id": "TASK_ID|TOKEN",
}

#: The same, for a row of a job file: its column names (JSONL keys).
COLUMNS: Mapping[str, str] = {
    "image": "image",
    "images": "images",
    "prompt": "prompt",
    "prompts": "prompts",
    "tags": "tag",
    "style": "style",
    "aspect": "aspect",
    "size": "aspect",
    "count": "count",
    "generate_num": "count",
    "key": "key",
    "app_id": "app",
    "language": "--language",
}

_KEYWORD = re.compile(r"\b([a-z_]+)=(?![=\w])")
# A list of flags such as "--image or --image" or "--prompt, --prompt or --tag".
_FLAG_LIST = re.compile(r"--[\w-]+(?:(?:, | or )--[\w-]+)+")


def _dedupe(match: re.Match[str]) -> str:
    flags: list[str] = list(dict.fromkeys(re.findall(r"--[\w-]+", match[0])))
    if len(flags) == 1:
        return flags[0]
    return f"{', '.join(flags[:-1])} or {flags[-1]}"


def reword(text: str, names: Mapping[str, str]) -> str:
    """
    *text* with each ``name=`` the table knows replaced by its flag or column (a flag
    named twice in a row, as ``--image or --image``, is named once).
    """

    def replace(match: re.Match[str]) -> str:
        name: str = match[1]
        whole: str = match[0]
        return names.get(name, whole)

    return _FLAG_LIST.sub(_dedupe, _KEYWORD.sub(replace, text))


def validation_text(error: ValidationError, names: Mapping[str, str]) -> str:
    """
    The error as ``FLAG: reason``, in the words of *names* (:data:`FLAGS` or
    :data:`COLUMNS`).
    """
    field = names.get(error.field, error.field)
    return f"{field}: {reword(error.reason, names)}"
