"""
akool rows of a job file (``a1art batch``, a distributed batch's journal): a create
(``{"provider": "akool", "key": "light", "prompt": "...", "scale": "16:9",
"source_image": "https://..."}``) or a press on the image of another row
(``{"provider": "akool", "key": "light-u2", "press": "light", "button": "U2"}``), as
engine batch jobs.

``key`` is optional: a create's is derived from what it asks for (``akool-`` and 16 hex
digits, so that rows may be added or reordered between runs and keys of different APIs
never meet), a press's is ``<press>-<button>``.  ``webhook_url`` is optional too.  akool
takes image links only, so rows name no local files.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from .._engine._batch import Job
from .._engine._errors import ValidationError
from ._client import AsyncClient
from ._jobs import CreateJob, PressJob, derive_key
from ._models import CreateRequest

#: The columns of a create row, and of a press row.
CREATE_COLUMNS: Final = frozenset(
    {"provider", "key", "prompt", "scale", "source_image", "webhook_url"}
)
PRESS_COLUMNS: Final = frozenset({"provider", "key", "press", "button", "webhook_url"})
#: The scale of a create row that names none.
DEFAULT_SCALE: Final = "1:1"


def _text(row: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = row.get(name)
    if value is None:
        if required:
            raise ValidationError(name, "is required")
        return None
    if not isinstance(value, str):
        raise ValidationError(name, f"must be a string, got {value!r:.60}")
    return value


def row_key(row: Mapping[str, Any]) -> str:
    """
    The key of a row that names none: ``<press>-<button>`` for a press, else ``akool-``
    and a hash of the prompt, scale and source image.

    Raises:
        ValidationError: A column the key is made of is missing or not a string.
    """
    if "press" in row:
        parent = _text(row, "press", required=True)
        button = _text(row, "button", required=True)
        return f"{parent}-{button}"
    fields = {
        "prompt": _text(row, "prompt", required=True),
        "scale": _text(row, "scale") or DEFAULT_SCALE,
        "source_image": _text(row, "source_image"),
    }
    return f"akool-{derive_key(fields)[:16]}"


def batch_job(client: AsyncClient, row: Mapping[str, Any], base: Path) -> Job:
    """
    One JSONL row with ``"provider": "akool"`` as an engine batch job.

    Args:
        client: The akool client the batch runs on (its images, webhook URL and
            observed prices).
        row: A create (``prompt``, optional ``scale``, ``source_image``, ``key``,
            ``webhook_url``) or a press on another row's image (``press``: that row's
            key, ``button``, optional ``key``, ``webhook_url``).
        base: The job file's folder; akool rows name no local files (the API takes
            image links), so it is not used.

    Returns:
        The job; a press runs once the row it names is done, without taking a worker
        slot while it waits.

    Raises:
        ValidationError: Naming the field at fault: another provider, an unknown field,
            an empty prompt, a scale or button outside the documented ones, a source
            image that is not an http(s) URL.
    """
    del base
    provider = row.get("provider", "akool")
    if provider != "akool":
        raise ValidationError("provider", f"must be akool, got {provider!r:.40}")
    pressing = "press" in row
    unknown = sorted(set(row) - (PRESS_COLUMNS if pressing else CREATE_COLUMNS))
    if unknown:
        raise ValidationError(unknown[0], "is not a field of an akool row")
    key = _text(row, "key")
    webhook = _text(row, "webhook_url") or client.webhook_url
    if pressing:
        parent = _text(row, "press", required=True)
        button = _text(row, "button", required=True)
        assert parent is not None
        assert button is not None
        return PressJob(key or row_key(row), parent, button, client.images, webhook_url=webhook)
    prompt = _text(row, "prompt", required=True)
    scale = _text(row, "scale") or DEFAULT_SCALE
    source = _text(row, "source_image")
    assert prompt is not None
    request = CreateRequest(prompt, scale, source, webhook)
    return CreateJob(key or row_key(row), request, client.images)
