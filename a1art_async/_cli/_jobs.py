"""
Job files for ``a1art batch``: JSON Lines or CSV, one generation per line or row.

A row's ``provider`` names the API that runs it: ``a1art`` (the default, when the row
has none), ``akool`` or ``gateway``.  An akool or gateway row becomes a :class:`Row`,
checked in full by its provider once its client is open (``akool/_rows.py``,
``gateway/_rows.py``); a CSV file takes them only when its header has a ``provider``
column (then the columns of every provider are known, and each row may fill only its
own provider's).  An a1.art row becomes a :class:`Job`.

a1.art fields (JSONL keys, CSV columns); only ``app`` is required:

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
get ``-2``, ``-3``... after the first.  An a1.art job's is ``job-`` and 16 hex digits
(as before other providers' rows were taken, so that journals of earlier runs still
match); an akool or gateway row's starts with its provider (``akool-``, ``gateway-``),
and an akool press's is ``<press>-<button>``.  Keys are unique across providers.

One bad row fails alone: a line that is not JSON, a missing or non-string ``app``, a
bad ``count``, a field of the wrong type, an image file that is missing or unreadable,
or a key used by an earlier row becomes a :class:`BadRow` naming its line and field,
and the other rows run.  What makes no row readable (the file itself, or a CSV header
with an unknown column) is a :class:`UsageError`.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from .._engine._batch import BatchOutcome
from .._engine._errors import ValidationError
from .._engine._journal import JobState
from .._generation import GenerateOptions
from ..akool import _rows as akool_rows
from ..gateway import _rows as gateway_rows
from ._exit import UsageError
from ._local import input_problem

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
#: Images per job, and images per generation, as the SDK checks them.
_MAX_COUNT = 4
#: The provider of a row that names none.
DEFAULT_PROVIDER = "a1art"
#: Every provider a row may name, in the order their clients are opened.
PROVIDERS = ("a1art", "akool", "gateway")
#: The columns of each provider's rows besides ``provider`` (a CSV file with a
#: ``provider`` column takes all of them).
_COLUMNS: dict[str, frozenset[str]] = {
    "a1art": frozenset(_FIELDS),
    "akool": akool_rows.CREATE_COLUMNS | akool_rows.PRESS_COLUMNS,
    "gateway": gateway_rows.ROW_COLUMNS,
}


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


@attrs.frozen
class Row:
    """
    An akool or gateway row: what its provider's ``batch_job`` takes, with its key.

    Attributes:
        key: Its key in the journal (its own, or derived).
        provider: ``akool`` or ``gateway``.
        line: Its line in the file.
        fields: The row as written, without ``provider`` and ``key``.
        derived: The key was derived: identical rows are numbered apart.
    """

    key: str
    provider: str
    line: int
    fields: Mapping[str, Any]
    derived: bool = attrs.field(default=False, eq=False)

    @property
    def after(self) -> str | None:
        """
        For an akool press: the key of the row whose image it presses on.
        """
        parent = self.fields.get("press") if self.provider == "akool" else None
        return parent if isinstance(parent, str) else None

    @property
    def group(self) -> str:
        """
        Its line of the board and the summary: ``akool create``, ``akool press``, or
        ``gateway`` and the model.
        """
        return row_group(self.provider, self.fields)

    def row(self) -> dict[str, Any]:
        """
        The row as its provider's ``batch_job`` takes it.
        """
        return {**self.fields, "provider": self.provider, "key": self.key}


def row_group(provider: str, fields: Mapping[str, Any]) -> str:
    """
    The board's group of an akool or gateway row: ``akool create``, ``akool press``, or
    ``gateway`` and the model.
    """
    if provider == "akool":
        return "akool press" if "press" in fields else "akool create"
    model = fields.get("model")
    return f"gateway {model.strip()}" if isinstance(model, str) and model.strip() else "gateway"


@attrs.frozen
class BadRow:
    """
    A row that cannot run: it fails alone, and the other rows run.

    Attributes:
        line: Its line in the file.
        key: Its ``key`` if it has a usable one, else ``line-N``.
        reason: What is wrong, starting with the field (``count: must be...``).
        app_id: Its app, if it names one (an a1.art row).
        group: Its group on the board, for an akool or gateway row.
    """

    line: int
    key: str
    reason: str
    app_id: str | None = None
    group: str | None = None

    @property
    def message(self) -> str:
        """
        The reason with the line: ``line 4: count: must be an integer from 1 to 4``.
        """
        return f"line {self.line}: {self.reason}"

    def outcome(self) -> BatchOutcome:
        """
        The row as a failed job: nothing was sent for it.
        """
        return BatchOutcome(self.key, JobState.FAILED, error=UsageError(self.message))


@attrs.frozen
class JobFile:
    """
    A job file read: the jobs that can run, and the rows that cannot, in file order.
    """

    jobs: tuple[Job | Row, ...]
    bad: tuple[BadRow, ...]

    @property
    def rows(self) -> int:
        """
        How many rows the file has (blank lines aside).
        """
        return len(self.jobs) + len(self.bad)


class _RowError(Exception):
    """
    What is wrong with one row: the field (as the file names it) and why.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")


def read_jobs(path: Path) -> JobFile:
    """
    Read a job file: each row becomes a :class:`Job` (a1.art), a :class:`Row` (akool,
    gateway), or a :class:`BadRow` saying what is wrong with it.

    Raises:
        UsageError: The file cannot be read, has no rows, or (CSV) its header has a
            column no job takes.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise UsageError(f"cannot read the jobs file {str(path)!r}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"the jobs file {str(path)!r} is not UTF-8 text") from None
    jobs: list[Job | Row] = []
    bad: list[BadRow] = []
    for item in _parse(path, text.splitlines(), _is_jsonl(path, text)):
        if isinstance(item, BadRow):
            bad.append(item)
        else:
            jobs.append(item)
    if not jobs and not bad:
        raise UsageError(f"the jobs file {str(path)!r} has no jobs")
    unique, repeated = _unique(jobs)
    # A bad row is shown by its key when that names it alone, else by its line.
    taken = {job.key for job in unique}
    named: list[BadRow] = []
    for row in sorted([*bad, *repeated], key=lambda row: row.line):
        if row.key in taken:
            row = attrs.evolve(row, key=f"line-{row.line}")
        taken.add(row.key)
        named.append(row)
    return JobFile(tuple(unique), tuple(named))


def check_readable(path: Path) -> None:
    """
    Raises:
        UsageError: The jobs file cannot be opened for reading.
    """
    try:
        with path.open("rb"):
            pass
    except OSError as error:
        raise UsageError(f"cannot read the jobs file {str(path)!r}: {error.strerror}") from None


def stream_jobs(path: Path) -> Iterator[Job | Row | BadRow]:
    """
    Read a job file a line at a time, for files larger than memory: each row as a
    :class:`Job`, a :class:`Row` or a :class:`BadRow`, in file order.

    Unlike :func:`read_jobs`, keys are not compared across rows (that needs every key at
    once): a derived key is yielded as derived (``Job.derived``), and the reader of the
    stream numbers identical ones apart and finds rows whose key an earlier row has
    (the distributed enqueue does both in the database).

    Raises:
        UsageError: The file cannot be read, is not UTF-8, has no rows, or (CSV) its
            header has a column no job takes.
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            head = file.read(4096)
            file.seek(0)
            rows = 0
            for item in _parse(path, file, _is_jsonl(path, head)):
                rows += 1
                yield item
    except OSError as error:
        raise UsageError(f"cannot read the jobs file {str(path)!r}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"the jobs file {str(path)!r} is not UTF-8 text") from None
    if not rows:
        raise UsageError(f"the jobs file {str(path)!r} has no jobs")


def _is_jsonl(path: Path, head: str) -> bool:
    suffix = path.suffix.lower()
    return suffix in (".jsonl", ".ndjson", ".json") or (
        suffix != ".csv" and head.lstrip().startswith("{")
    )


def _parse(path: Path, lines: Iterable[str], jsonl: bool) -> Iterator[Job | Row | BadRow]:
    rows = _jsonl_rows(lines) if jsonl else _csv_rows(lines, path)
    for line, row in rows:
        if isinstance(row, BadRow):
            yield row
            continue
        try:
            provider = _provider(row)
            if provider == DEFAULT_PROVIDER:
                yield _job(line, {k: v for k, v in row.items() if k != "provider"}, path.parent)
            else:
                yield _provider_row(line, row, provider)
        except _RowError as error:
            yield _bad(line, row, str(error))


def _provider(row: Mapping[str, Any]) -> str:
    value = row.get("provider")
    if value is None or value == "":
        return DEFAULT_PROVIDER
    if not isinstance(value, str):
        raise _RowError("provider", f"must be a string, got {json.dumps(value)}")
    if value not in PROVIDERS:
        raise _RowError("provider", f"unknown provider {value!r}; known: {', '.join(PROVIDERS)}")
    return value


def _bad(line: int, row: Mapping[str, Any], reason: str) -> BadRow:
    key = row.get("key", row.get("id"))
    app = row.get("app", row.get("app_id"))
    provider = str(row.get("provider"))
    other = provider in PROVIDERS and provider != DEFAULT_PROVIDER
    return BadRow(
        line=line,
        key=key if isinstance(key, str) and key else f"line-{line}",
        reason=reason,
        app_id=app if isinstance(app, str) and app and not other else None,
        group=row_group(provider, row) if other else None,
    )


def column_of(provider: str, field: str, fields: Mapping[str, Any]) -> str:
    """
    How a job file names the field of a provider's ``ValidationError`` about a row with
    *fields*: a gateway parameter given in ``params`` is ``params.NAME``.
    """
    own = field in ("model", "key", "params", "provider") or (
        field == "prompt" and "prompt" in fields
    )
    return field if provider != "gateway" or own else f"params.{field}"


def _columns(provider: str, fields: Mapping[str, Any]) -> frozenset[str]:
    if provider == "akool":
        press = "press" in fields
        return akool_rows.PRESS_COLUMNS if press else akool_rows.CREATE_COLUMNS
    return gateway_rows.ROW_COLUMNS


def _provider_row(line: int, row: Mapping[str, Any], provider: str) -> Row:
    """
    An akool or gateway row with its key; the rest is checked by its provider once its
    client is open.
    """
    key = row.get("key")
    if key is not None and (not isinstance(key, str) or not key.strip()):
        raise _RowError("key", f"must be a non-empty string, got {json.dumps(key)}")
    fields = {name: value for name, value in row.items() if name not in ("provider", "key")}
    known = _columns(provider, fields)
    unknown = sorted(set(row) - known)
    if unknown:
        raise _RowError(
            ", ".join(unknown),
            f"unknown field(s) of {'an akool' if provider == 'akool' else 'a gateway'} row; "
            f"known: {', '.join(sorted(known))}",
        )
    if key is None:
        try:
            if provider == "akool":
                key = akool_rows.row_key(fields)
            else:
                key = gateway_rows.row_key({**fields, "provider": provider})
        except ValidationError as error:
            raise _RowError(column_of(provider, error.field, fields), error.reason) from None
    return Row(key.strip(), provider, line, fields, derived=row.get("key") is None)


def _jsonl_rows(lines: Iterable[str]) -> Iterator[tuple[int, dict[str, Any] | BadRow]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as error:
            yield number, BadRow(number, f"line-{number}", f"not JSON: {error}")
            continue
        if not isinstance(row, dict):
            yield number, BadRow(number, f"line-{number}", "expected a JSON object")
            continue
        yield number, row


def _csv_rows(lines: Iterable[str], path: Path) -> Iterator[tuple[int, dict[str, Any] | BadRow]]:
    reader = csv.DictReader(lines)
    if reader.fieldnames is None:
        return
    header = [name.strip() for name in reader.fieldnames]
    # Without a provider column, every row is an a1.art job (as before other providers'
    # rows were taken): a column of another provider is a mistake in the whole file.
    known = (
        sorted({"provider"}.union(*_COLUMNS.values())) if "provider" in header else list(_FIELDS)
    )
    unknown = [name for name in header if name and name not in known]
    if unknown:
        raise UsageError(
            f"the jobs file {str(path)!r}: unknown column(s) {', '.join(unknown)}; "
            f"known: {', '.join(known)}"
        )
    reader.fieldnames = header
    for row in reader:
        if None in row:
            number = reader.line_num
            yield number, _bad(number, {}, "more cells than columns")
            continue
        cells = {name: (value or "").strip() for name, value in row.items() if name}
        if not any(cells.values()):
            continue
        present: dict[str, Any] = {name: value for name, value in cells.items() if value}
        provider = present.get("provider", DEFAULT_PROVIDER)
        if "images" in present and provider == DEFAULT_PROVIDER:
            present["images"] = [part.strip() for part in present["images"].split(";")]
        if "params" in present and provider == "gateway":
            # A JSON object in one cell; anything else is refused by the row's check.
            with contextlib.suppress(ValueError):
                present["params"] = json.loads(present["params"])
        yield reader.line_num, present


def _text(row: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = row.get(name)
        if value is None or value == "":
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise _RowError(name, f"must be a string, got {json.dumps(value)}")
        return value
    return None


def _image(value: str, base: Path, field: str) -> str:
    if _URL.match(value):
        return value
    problem = input_problem(value, base)
    if problem is not None:
        raise _RowError(field, problem)
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else base / path)


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _RowError("count", f"must be an integer from 1 to {_MAX_COUNT}, got {value!r}")
    try:
        count = int(value)
    except ValueError:
        count = 0
    if str(count) != str(value).strip() or not 1 <= count <= _MAX_COUNT:
        raise _RowError("count", f"must be an integer from 1 to {_MAX_COUNT}, got {value!r}")
    return count


def _job(line: int, row: Mapping[str, Any], base: Path) -> Job:
    unknown = sorted(set(row) - set(_FIELDS))
    if unknown:
        raise _RowError(", ".join(unknown), f"unknown field(s); known: {', '.join(_FIELDS)}")
    app_id = _text(row, "app", "app_id")
    if not app_id:
        raise _RowError("app", "missing (the app id)")
    images_value = row.get("images")
    images: tuple[str, ...] | dict[str, str] | None = None
    if isinstance(images_value, list) and all(isinstance(item, str) for item in images_value):
        images = tuple(_image(item, base, "images") for item in images_value)
    elif isinstance(images_value, dict) and all(
        isinstance(item, str) for item in images_value.values()
    ):
        images = {str(k): _image(v, base, "images") for k, v in images_value.items()}
    elif images_value is not None:
        raise _RowError("images", "must be a list of paths or URLs")
    prompts = row.get("prompts")
    if prompts is not None and not (
        isinstance(prompts, dict) and all(isinstance(v, str) for v in prompts.values())
    ):
        raise _RowError("prompts", "must be an object of texts")
    tags_value = row.get("tags", row.get("tag"))
    if tags_value is not None and not isinstance(tags_value, str | dict):
        name = "tags" if "tags" in row else "tag"
        raise _RowError(name, "must be a tag, or an object of input to tag")
    count = _count(row.get("count", 1))
    image = _text(row, "image")
    given = {name: row[name] for name in sorted(row) if name not in ("key", "id")}
    key = _text(row, "key", "id")
    return Job(
        key=key or _derived_key(given),
        derived=key is None,
        app_id=app_id,
        line=line,
        image=None if image is None else _image(image, base, "image"),
        images=images,
        prompt=_text(row, "prompt"),
        prompts=prompts,
        tags=tags_value,
        style=_text(row, "style"),
        aspect=_text(row, "aspect"),
        count=count,
    )


def _derived_key(given: Mapping[str, Any]) -> str:
    canonical = json.dumps(given, sort_keys=True, ensure_ascii=False, default=str)
    return "job-" + hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _unique(jobs: Iterable[Job | Row]) -> tuple[list[Job | Row], list[BadRow]]:
    """
    The jobs with derived keys numbered apart; a row whose key an earlier row has (of
    any provider) is bad.
    """
    used: dict[str, int] = {}
    repeats: dict[str, int] = {}
    result: list[Job | Row] = []
    repeated: list[BadRow] = []
    for job in jobs:
        key = job.key
        if job.derived:
            repeats[key] = repeats.get(key, 0) + 1
            if repeats[key] > 1:
                key = f"{key}-{repeats[key]}"
        if key in used:
            reason = f"key: {key!r} is used by line {used[key]} too"
            if isinstance(job, Job):
                repeated.append(BadRow(job.line, f"line-{job.line}", reason, job.app_id))
            else:
                repeated.append(BadRow(job.line, f"line-{job.line}", reason, group=job.group))
            continue
        used[key] = job.line
        result.append(job if key == job.key else attrs.evolve(job, key=key))
    return result, repeated
