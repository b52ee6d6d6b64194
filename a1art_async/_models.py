"""
Frozen, slotted models of everything the a1.art Open API defines.

Names are snake_case here and camelCase on the wire; the one converter in
``_converter.py`` does the mapping.  Ids are strings even when they look numeric: the
docs type them as strings and 19-digit ids do not survive a round trip through a float.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs
import httpx

from ._engine._download import download
from ._engine._errors import ValidationError
from ._engine._retry import RetryPolicy


class FormType(enum.StrEnum):
    """
    The documented kinds of form in an app's ``formArr``.
    """

    STYLE = "style"
    CNET = "cnet"
    DESCRIPTION = "description"
    SIZE = "size"


class Size(enum.Enum):
    """
    The seven output sizes; the value is the wire ``sizeId``.

    ``Size.from_aspect("16:9")`` finds one by its aspect ratio.
    """

    SQUARE_1_1 = "1"
    PORTRAIT_3_4 = "2"
    PORTRAIT_1_2 = "3"
    LANDSCAPE_4_3 = "4"
    LANDSCAPE_2_1 = "5"
    WIDESCREEN_16_9 = "6"
    VERTICAL_9_16 = "7"

    @property
    def size_id(self) -> str:
        """
        The ``sizeId`` sent on the wire.
        """
        return self.value

    @property
    def aspect(self) -> str:
        """
        The aspect ratio as the docs write it, e.g. ``"16:9"``.
        """
        return _ASPECTS[self]

    @property
    def ratio(self) -> float:
        """
        Width divided by height.
        """
        width, height = self.aspect.split(":")
        return int(width) / int(height)

    @classmethod
    def from_aspect(cls, aspect: str) -> Size:
        """
        Find a size by its aspect ratio (``"16:9"``) or by its ``sizeId`` (``"6"``).

        Raises:
            ValidationError: If no documented size matches.
        """
        if not isinstance(aspect, str):
            raise ValidationError("size", f"expected an aspect such as '16:9', got {aspect!r}")
        wanted = aspect.strip().replace(" ", "")
        for size in cls:
            if wanted in (size.aspect, size.value):
                return size
        choices = ", ".join(s.aspect for s in cls)
        raise ValidationError("size", f"unknown aspect {aspect!r}; choose one of {choices}")


_ASPECTS = {
    Size.SQUARE_1_1: "1:1",
    Size.PORTRAIT_3_4: "3:4",
    Size.PORTRAIT_1_2: "1:2",
    Size.LANDSCAPE_4_3: "4:3",
    Size.LANDSCAPE_2_1: "2:1",
    Size.WIDESCREEN_16_9: "16:9",
    Size.VERTICAL_9_16: "9:16",
}


class TaskState(enum.IntEnum):
    """
    A task's documented states; 10 and 20 are final.
    """

    SUBMITTED = 0
    COMPLETED = 10
    FAILED = 20
    RUNNING = 30

    @property
    def is_final(self) -> bool:
        """
        Whether the task will not change any more.
        """
        return self in (TaskState.COMPLETED, TaskState.FAILED)

    def __str__(self) -> str:
        # The name says what the state is; the wire value is ``int(state)``.
        return self.name

    def __format__(self, spec: str) -> str:
        return format(self.name, spec)


class Language(enum.StrEnum):
    """
    The 13 languages the app details endpoint translates into.
    """

    ZH_CN = "zh_CN"
    EN_US = "en_US"
    ZH_TW = "zh_TW"
    RU_RU = "ru_RU"
    JA_JP = "ja_JP"
    PT_BR = "pt_BR"
    ES_MX = "es_MX"
    DE_DE = "de_DE"
    ID_ID = "id_ID"
    TR_TR = "tr_TR"
    VI_VN = "vi_VN"
    TH_TH = "th_TH"
    MS_MY = "ms_MY"

    @classmethod
    def parse(cls, value: str | Language) -> Language:
        """
        Accept ``"en_US"`` (or ``"en-us"``) and return the enum member.

        Raises:
            ValidationError: If the language is not one of the documented 13.
        """
        if isinstance(value, Language):
            return value
        if not isinstance(value, str):
            raise ValidationError("language", f"expected a language code, got {value!r}")
        for language in cls:
            if value.replace("-", "_").lower() == language.value.lower():
                return language
        choices = ", ".join(cls)
        raise ValidationError("language", f"unsupported language {value!r}; use one of {choices}")


@attrs.frozen
class Input:
    """
    One prompt field of a description form; its id replaces the form's id on the wire.
    """

    id: str
    title: str = ""
    tags: tuple[str, ...] = ()


@attrs.frozen
class Form:
    """
    One entry of an app's ``formArr``.

    ``position`` is set on the cnet forms of group-photo apps: the index of the person
    the image is placed on.
    """

    id: str
    type: FormType
    title: str = ""
    inputs: tuple[Input, ...] = ()
    position: str | None = None


@attrs.frozen
class Style:
    """
    One entry of an app's ``styleArr``.
    """

    id: str
    name: str = ""
    image: str = ""


@attrs.frozen
class App:
    """
    An app's details, as returned by ``GET /apps/{appId}``.

    ``process_time`` is the app's recent average generation time in seconds (the wire
    sends a string).  ``cost`` is what the docs call "node app consumption credits"; the
    docs' own form app carries it too, so it does not tell the app's kind (see
    :class:`~a1art_async.CostEstimate`).
    """

    id: str
    version_id: str
    name: str = ""
    forms: tuple[Form, ...] = ()
    styles: tuple[Style, ...] = ()
    update_date: dt.datetime | None = None
    create_date: dt.datetime | None = None
    process_time: float | None = None
    cost: int | None = None

    @property
    def is_node_app(self) -> bool:
        """
        Whether the app carries a ``cost``, as node apps do.  Form apps may carry one
        too (the docs' example does), so this says "may be a node app", never "is".
        """
        return self.cost is not None

    def forms_of(self, form_type: FormType) -> tuple[Form, ...]:
        """
        The forms of one type, in the app's order.
        """
        return tuple(form for form in self.forms if form.type is form_type)

    @property
    def is_group_photo(self) -> bool:
        """
        Whether the app places several images by ``position``.
        """
        return any(form.position is not None for form in self.forms_of(FormType.CNET)) and (
            len(self.forms_of(FormType.CNET)) > 1
        )


@attrs.frozen
class Upload:
    """
    An image stored by a1.art, usable in generate and enhance requests.

    ``width``/``height`` are read locally before uploading (``None`` for uploads by URL);
    they are not part of the wire format.
    """

    image_url: str
    path: str
    width: int | None = attrs.field(default=None, eq=False)
    height: int | None = attrs.field(default=None, eq=False)


@attrs.frozen
class Task:
    """
    A generation or enhance task, as returned by ``GET /tasks/{taskId}``.

    ``task_id`` is the id the task was queried with; ``id`` is the record id the server
    returns in the body, which the docs show to be a different value.  ``images`` holds
    one URL per generated image or video once ``state`` is ``COMPLETED``.
    """

    task_id: str
    state: TaskState
    id: str = ""
    images: tuple[str, ...] = ()
    start_date: dt.datetime | None = None
    finish_date: dt.datetime | None = None
    create_date: dt.datetime | None = None
    # The session that fetched it, for download(); not data, not compared, not shown.
    _session: Any = attrs.field(init=False, default=None, eq=False, repr=False)

    @property
    def is_final(self) -> bool:
        """
        Whether the task has completed or failed.
        """
        return self.state.is_final

    def bind(self, session: Any) -> Task:
        """
        Remember the session that fetched this task, so :meth:`download` can use its
        connection pool.  Returns the task itself.
        """
        object.__setattr__(self, "_session", session)
        return self

    async def download(self, directory: str | os.PathLike[str]) -> list[Path]:
        """
        Save every result file into *directory*, atomically, named
        ``<task_id>-<n>.<ext>``; no API key is sent to the file host.

        Returns:
            The saved paths, in the order of :attr:`images`.

        Raises:
            ResultExpiredError: A result URL answered 403 or 404.
            DownloadError: A file could not be saved after retries.
        """
        if self._session is None:
            raise RuntimeError(
                "this task was not fetched by a client; use client.download(task, directory)"
            )
        return await save_task(self, self._session.http, directory, retry=self._session.retry)


async def save_task(
    task: Task,
    http: httpx.AsyncClient,
    directory: str | os.PathLike[str],
    *,
    retry: RetryPolicy | None = None,
) -> list[Path]:
    """
    Save every result file of a completed task into *directory*, atomically, named
    ``<task_id>-<n>.<ext>``, through *http* (which never carries the API key).

    Raises:
        ValidationError: The task has not completed.
        ResultExpiredError: A result URL answered 403 or 404.
        DownloadError: A file could not be saved after retries.
    """
    if task.state is not TaskState.COMPLETED:
        raise ValidationError("task", f"task {task.task_id} has not completed ({task.state.name})")
    return [
        await download(http, url, directory, f"{task.task_id}-{index}", retry=retry)
        for index, url in enumerate(task.images)
    ]


def _check_generate_num(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4:
        raise ValidationError("generate_num", f"must be an integer from 1 to 4 (got {value!r})")


def _check_nonempty(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(attribute.name, f"must be a non-empty string (got {value!r})")


def _to_size(value: Size | str | None) -> Size | None:
    if value is None or isinstance(value, Size):
        return value
    return Size.from_aspect(value)


def _to_tuple(value: Iterable[object]) -> tuple[object, ...]:
    return tuple(value)


@attrs.frozen
class CnetPart:
    """
    An uploaded image for a cnet form (``position`` only for group photos).
    """

    id: str = attrs.field(validator=_check_nonempty)
    image_url: str = attrs.field(validator=_check_nonempty)
    path: str = attrs.field(validator=_check_nonempty)
    position: str | None = None

    @classmethod
    def from_upload(cls, form_id: str, upload: Upload, position: str | None = None) -> CnetPart:
        """
        Fill a cnet part from an :class:`Upload`.
        """
        return cls(id=form_id, image_url=upload.image_url, path=upload.path, position=position)


@attrs.frozen
class DescriptionPart:
    """
    A prompt: ``id`` is the description form's id, or its input's id when it has inputs.
    """

    id: str = attrs.field(validator=_check_nonempty)
    value: str = attrs.field(validator=_check_nonempty)


@attrs.frozen
class GenerateRequest:
    """
    The documented body of ``POST /images/generate``, checked when it is built.

    ``size`` takes a :class:`Size`, an aspect such as ``"16:9"`` or a ``sizeId``.
    """

    app_id: str = attrs.field(validator=_check_nonempty)
    version_id: str = attrs.field(validator=_check_nonempty)
    generate_num: int = attrs.field(default=1, validator=_check_generate_num)
    cnet: tuple[CnetPart, ...] = attrs.field(default=(), converter=_to_tuple)
    description: tuple[DescriptionPart, ...] = attrs.field(default=(), converter=_to_tuple)
    style_id: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(_check_nonempty)
    )
    size: Size | None = attrs.field(default=None, converter=_to_size)


@attrs.frozen
class EnhanceRequest:
    """
    The documented body of ``POST /images/optimize``.
    """

    path: str = attrs.field(validator=_check_nonempty)
    image_url: str = attrs.field(validator=_check_nonempty)

    @classmethod
    def from_upload(cls, upload: Upload) -> EnhanceRequest:
        """
        Build the request for an :class:`Upload`.
        """
        return cls(path=upload.path, image_url=upload.image_url)
