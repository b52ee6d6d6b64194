"""
Frozen, slotted models of what the akool image API takes and returns.

Names are snake_case here and as on the wire, except ``_id`` (``id``) and
``image_status`` (``status``, an :class:`ImageStatus`).  Records are read by
:func:`image_from_wire`, which ignores fields the docs do not list (the server may add
more), keeps ids as strings, turns ``create_time`` (milliseconds) into a ``datetime``,
and refuses an ``image_status`` outside 1-4 with :class:`UnknownStatusError`.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Mapping
from typing import Any

import attrs

from .._engine._errors import UnexpectedResponseError, ValidationError
from ._config import BUTTONS, SCALES, check_webhook_url
from ._errors import UnknownStatusError


class ImageStatus(enum.IntEnum):
    """
    The documented ``image_status`` values; 3 and 4 are final.
    """

    QUEUEING = 1
    PROCESSING = 2
    COMPLETED = 3
    FAILED = 4

    @property
    def is_final(self) -> bool:
        """
        Whether the image will not change any more.
        """
        return self in (ImageStatus.COMPLETED, ImageStatus.FAILED)

    def __str__(self) -> str:
        return self.name

    def __format__(self, spec: str) -> str:
        return format(self.name, spec)


@attrs.frozen
class Image:
    """
    One image record, as ``createbyprompt``, ``createbybutton`` and ``infobymodelid``
    answer it.

    Attributes:
        id: Its ``_id``: what ``infobymodelid`` and ``createbybutton`` take.
        status: Its ``image_status``.
        image: The result URL once completed (valid for 7 days, say the docs).
        buttons: The buttons that may be pressed on it (``U1``-``U4``, ``V1``-``V4``).
        used_buttons: The buttons pressed on it so far.
        upscaled_urls: What the docs call so; kept as sent.
        deduction_credit: The credits it cost.
        create_time: When it was created (UTC).
        image_content_model_id: For a press, the image it was made from.
        op_button: For a press, the button.
        prompt: The prompt as the service rewrote it.
        origin_prompt: The prompt as sent.
        source_image: The image-to-image source, if any.
        type: The record's ``type`` number, as sent.
        uid: The account's id.
    """

    id: str
    status: ImageStatus
    image: str | None = None
    buttons: tuple[str, ...] = ()
    used_buttons: tuple[str, ...] = ()
    upscaled_urls: tuple[str, ...] = ()
    deduction_credit: int | None = None
    create_time: dt.datetime | None = None
    image_content_model_id: str | None = None
    op_button: str | None = None
    prompt: str | None = None
    origin_prompt: str | None = None
    source_image: str | None = None
    type: int | None = None
    uid: int | None = None

    @property
    def is_final(self) -> bool:
        """
        Whether the image has completed or failed.
        """
        return self.status.is_final


def _text(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise UnexpectedResponseError(f"{name} in the image is not a string", status=200)
    return str(value)


def _number(data: Mapping[str, Any], name: str) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UnexpectedResponseError(f"{name} in the image is not a number", status=200)
    return int(value)


def _strings(data: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = data.get(name)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UnexpectedResponseError(f"{name} in the image is not a list of strings", status=200)
    return tuple(value)


def image_from_wire(data: Any) -> Image:
    """
    Read an image record from an answer's ``data``.

    Raises:
        UnexpectedResponseError: Not an object, no ``_id``, or a field of the wrong type.
        UnknownStatusError: An ``image_status`` outside 1-4.
    """
    if not isinstance(data, Mapping):
        raise UnexpectedResponseError("the answer's data is not an image object", status=200)
    image_id = _text(data, "_id")
    if image_id is None:
        raise UnexpectedResponseError("the image in the answer has no _id", status=200)
    raw = data.get("image_status")
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise UnknownStatusError(image_id, raw)
    try:
        status = ImageStatus(raw)
    except ValueError:
        raise UnknownStatusError(image_id, raw) from None
    created = _number(data, "create_time")
    return Image(
        id=image_id,
        status=status,
        image=_text(data, "image"),
        buttons=_strings(data, "buttons"),
        used_buttons=_strings(data, "used_buttons"),
        upscaled_urls=_strings(data, "upscaled_urls"),
        deduction_credit=_number(data, "deduction_credit"),
        create_time=None if created is None else dt.datetime.fromtimestamp(created / 1000, dt.UTC),
        image_content_model_id=_text(data, "image_content_model_id"),
        op_button=_text(data, "op_button"),
        prompt=_text(data, "prompt"),
        origin_prompt=_text(data, "origin_prompt"),
        source_image=_text(data, "source_image"),
        type=_number(data, "type"),
        uid=_number(data, "uid"),
    )


def _check_prompt(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("prompt", f"must be a non-empty string (got {value!r})")


def _check_scale(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in SCALES:
        raise ValidationError("scale", f"must be one of {', '.join(SCALES)} (got {value!r})")


def _check_source(_: object, attribute: attrs.Attribute[str | None], value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ValidationError(
            "source_image", f"must be an http(s) URL of the image (got {value!r:.80})"
        )


def _check_button(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in BUTTONS:
        raise ValidationError("button", f"must be one of {', '.join(BUTTONS)} (got {value!r})")


def check_image_id(value: object) -> str:
    """
    An image ``_id``: a non-empty string.

    Raises:
        ValidationError: Anything else.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("image_id", f"must be a non-empty string (got {value!r})")
    return value.strip()


def _webhook(value: object) -> str | None:
    return check_webhook_url(value)


@attrs.frozen
class CreateRequest:
    """
    A ``createbyprompt`` request: text to image, or image to image with
    ``source_image``.  Checked when made.

    Raises:
        ValidationError: An empty prompt, an undocumented scale, a source that is not an
            http(s) URL, or a webhook URL that is not http(s).
    """

    prompt: str = attrs.field(validator=_check_prompt)
    scale: str = attrs.field(default="1:1", validator=_check_scale)
    source_image: str | None = attrs.field(default=None, validator=_check_source)
    webhook_url: str | None = attrs.field(default=None, converter=_webhook)

    def to_json(self) -> dict[str, str]:
        """
        The body as the docs show it; optional fields left out when unset.
        """
        body = {"prompt": self.prompt, "scale": self.scale}
        if self.source_image is not None:
            body["source_image"] = self.source_image
        if self.webhook_url is not None:
            body["webhookUrl"] = self.webhook_url
        return body


@attrs.frozen
class PressRequest:
    """
    A ``createbybutton`` request: a 4K upscale (U1-U4) or a variation (V1-V4) of one of
    the four pictures of image ``image_id``.  Checked when made.

    Raises:
        ValidationError: An empty id, a button outside U1-U4/V1-V4, or a webhook URL
            that is not http(s).
    """

    image_id: str = attrs.field(converter=check_image_id)
    button: str = attrs.field(validator=_check_button)
    webhook_url: str | None = attrs.field(default=None, converter=_webhook)

    def to_json(self) -> dict[str, str]:
        """
        The body as the docs show it.
        """
        body = {"_id": self.image_id, "button": self.button}
        if self.webhook_url is not None:
            body["webhookUrl"] = self.webhook_url
        return body


def check_press(parent: Image, button: str) -> None:
    """
    Whether *button* may be pressed on *parent*, as far as its record tells.

    Raises:
        ValidationError: The parent has not completed, or its ``buttons`` lack *button*.
    """
    if parent.status is not ImageStatus.COMPLETED:
        raise ValidationError(
            "image", f"image {parent.id} is {parent.status.name.lower()}, not completed"
        )
    if button not in parent.buttons:
        offered = ", ".join(parent.buttons) or "none"
        raise ValidationError(
            "button", f"image {parent.id} offers no {button} (its buttons: {offered})"
        )
