"""
Job files for ``a1art batch``: JSON Lines or CSV, one generation per line or row.

Fields (JSONL keys, CSV columns); only ``app`` is required:

==========  ================================================================
``app``     the app id (``app_id`` is accepted too)
``key``     the job's key in the journal (``id`` too); derived when absent
``image``   a file (relative to the jobs file) or an http(s) URL
``images``  for group photos, in position order: a JSON list, or in CSV one
            cell with the paths separated by ``;`` (a JSON object by
            position is accepted in JSONL)
``prompt``  the text of the app's (first) description input
``prompts`` JSONL only: texts keyed by input id or title
``tag``     a tag of the first input (``tags``: a JSON object of input to tag)
``style``   a style's name or id
``aspect``  ``16:9`` and the like, or a sizeId
``count``   images to generate, 1-4 (default 1)
==========  ================================================================

A derived key is a hash of what the job asks for, so re-running the same file (even
with rows added or reordered) matches every job to its journal entry; identical jobs
get ``-2``, ``-3``... after the first.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from .._generation import GenerateOptions
from ._exit import UsageError

_URL = re.compile(r"^https?://", re.IGNORECASE)
_FIELDS = (
    "app",
    "app_id",
    "key",
    "id",
    "image",
    "images",
    "prompt",
    "prompts",
    "tag",
    "tags",
    "style",
    "aspect",
    "count",
)


@attrs.frozen
class Job:
    """
    One generation from a job file, as ``batch.add`` takes it.
    """

    key: str
    app_id: str
    line: int
    image: str | None = None
    images: tuple[str, ...] | Mapping[str, str] | None = None
    prompt: str | None = None
    prompts: Mapping[str, str] | None = None
    tags: str | Mapping[str, str] | None = None
    style: str | None = None
    aspect: str | None = None
    count: int = 1
    derived: bool = attrs.field(default=False, eq=False)

    def add_arguments(self) -> GenerateOptions:
        """
        The keyword arguments of ``batch.add`` (besides the app and key).
        """
        images: Any = self.images
        if isinstance(images, tuple):
            images = list(images)
        return {
            "image": self.image,
            "images": images,
            "prompt": self.prompt,
            "prompts": None if self.prompts is None else dict(self.prompts),
            "tags": self.tags if not isinstance(self.tags, Mapping) else dict(self.tags),
            "style": self.style,
            "aspect": self.aspect,
            "count": self.count,
        }


def read_jobs(path: Path) -> list[Job]:
    """
    Read and check a job file.

    Raises:
        UsageError: The file is missing, or a line is not a valid job (with its number).
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise UsageError(f"cannot read the jobs file {str(path)!r}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"the jobs file {str(path)!r} is not UTF-8 text") from None
    suffix = path.suffix.lower()
    is_jsonl = suffix in (".jsonl", ".ndjson", ".json") or (
        suffix != ".csv" and text.lstrip().startswith("{")
    )
    rows = _jsonl_rows(text) if is_jsonl else _csv_rows(text)
    jobs = [_job(line, row, path.parent) for line, row in rows]
    if not jobs:
        raise UsageError(f"the jobs file {str(path)!r} has no jobs")
    return _unique(jobs)


def _jsonl_rows(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as error:
            raise UsageError(f"line {number}: not JSON: {error}") from None
        if not isinstance(row, dict):
            raise UsageError(f"line {number}: expected a JSON object")
        yield number, row


def _csv_rows(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None:
        return
    header = [name.strip() for name in reader.fieldnames]
    reader.fieldnames = header
    for row in reader:
        if None in row:
            raise UsageError(f"line {reader.line_num}: more cells than columns")
        cells = {name: (value or "").strip() for name, value in row.items()}
        if not any(cells.values()):
            continue
        present: dict[str, Any] = {name: value for name, value in cells.items() if value}
        if "images" in present:
            present["images"] = [part.strip() for part in present["images"].split(";")]
        yield reader.line_num, present


def _text(row: Mapping[str, Any], line: int, *names: str) -> str | None:
    for name in names:
        value = row.get(name)
        if value is None or value == "":
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise UsageError(f"line {line}: {name!r} must be a string")
        return value
    return None


def _image(value: str, base: Path) -> str:
    if _URL.match(value):
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else base / path)


def _job(line: int, row: Mapping[str, Any], base: Path) -> Job:
    unknown = sorted(set(row) - set(_FIELDS))
    if unknown:
        raise UsageError(
            f"line {line}: unknown field(s) {', '.join(unknown)}; known: {', '.join(_FIELDS)}"
        )
    app_id = _text(row, line, "app", "app_id")
    if not app_id:
        raise UsageError(f"line {line}: no app (the app id)")
    images_value = row.get("images")
    images: tuple[str, ...] | dict[str, str] | None = None
    if isinstance(images_value, list) and all(isinstance(item, str) for item in images_value):
        images = tuple(_image(item, base) for item in images_value)
    elif isinstance(images_value, dict) and all(
        isinstance(item, str) for item in images_value.values()
    ):
        images = {str(k): _image(v, base) for k, v in images_value.items()}
    elif images_value is not None:
        raise UsageError(f"line {line}: 'images' must be a list of paths or URLs")
    prompts = row.get("prompts")
    if prompts is not None and not (
        isinstance(prompts, dict) and all(isinstance(v, str) for v in prompts.values())
    ):
        raise UsageError(f"line {line}: 'prompts' must be an object of texts")
    tags_value = row.get("tags", row.get("tag"))
    if tags_value is not None and not isinstance(tags_value, str | dict):
        raise UsageError(f"line {line}: 'tags' must be a tag or an object of input to tag")
    count_value = row.get("count", 1)
    try:
        count = int(count_value)
        if isinstance(count_value, bool) or str(count) != str(count_value).strip():
            raise ValueError
    except (TypeError, ValueError):
        raise UsageError(f"line {line}: 'count' must be an integer, got {count_value!r}") from None
    image = _text(row, line, "image")
    given = {name: row[name] for name in sorted(row) if name not in ("key", "id")}
    key = _text(row, line, "key", "id")
    return Job(
        key=key or _derived_key(given),
        derived=key is None,
        app_id=app_id,
        line=line,
        image=None if image is None else _image(image, base),
        images=images,
        prompt=_text(row, line, "prompt"),
        prompts=prompts,
        tags=tags_value,
        style=_text(row, line, "style"),
        aspect=_text(row, line, "aspect"),
        count=count,
    )


def _derived_key(given: Mapping[str, Any]) -> str:
    canonical = json.dumps(given, sort_keys=True, ensure_ascii=False, default=str)
    return "job-" + hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _unique(jobs: Iterable[Job]) -> list[Job]:
    used: set[str] = set()
    repeats: dict[str, int] = {}
    result: list[Job] = []
    for job in jobs:
        key = job.key
        if job.derived:
            repeats[key] = repeats.get(key, 0) + 1
            if repeats[key] > 1:
                key = f"{key}-{repeats[key]}"
        if key in used:
            raise UsageError(f"line {job.line}: the key {key!r} is used twice")
        used.add(key)
        result.append(job if key == job.key else attrs.evolve(job, key=key))
    return result
