"""
Filling an app's forms from what the user means: an image, a prompt, a style name, an
aspect ratio.

:func:`plan` checks everything against the app's ``formArr`` before a single byte is
uploaded or a credit spent, and says which form field is wrong and what the valid
choices are.  What it returns still holds image *sources*; the client uploads them
concurrently and then :meth:`Plan.request` builds the documented generate request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

import attrs

from ._config import MAX_GENERATE_NUM
from ._engine._cost import CostEstimate
from ._exceptions import ValidationError
from ._image_input import ImageSource
from ._models import (
    App,
    CnetPart,
    DescriptionPart,
    Form,
    FormType,
    GenerateRequest,
    Input,
    Size,
    Upload,
)

#: An image to place in a cnet form: anything ``images.upload`` takes, or an upload.
ImageArg: TypeAlias = "ImageSource | Upload"

#: Credits for one enhance, from the docs' charging rules.
ENHANCE_COST = 3


def estimate_cost(app: App, count: int = 1) -> CostEstimate:
    """
    Credits one generation of *count* results of *app* costs, by the documented rules
    (see :class:`CostEstimate` for why an app with a ``cost`` gets a range).
    """
    if app.cost is None:
        return CostEstimate.exactly(count)
    return CostEstimate(min(count, app.cost), count * max(1, app.cost))


@attrs.frozen
class Plan:
    """
    A checked generation: which image goes to which cnet form, and the other parts.
    """

    app: App
    count: int
    images: tuple[tuple[Form, ImageArg], ...]
    description: tuple[DescriptionPart, ...]
    style_id: str | None
    size: Size | None

    @property
    def cost(self) -> CostEstimate:
        """
        The credits this generation will be charged.
        """
        return estimate_cost(self.app, self.count)

    def request(self, uploads: Sequence[Upload], app: App | None = None) -> GenerateRequest:
        """
        The generate request, given one upload per planned image, in order.

        Args:
            uploads: The stored images, in the order of :attr:`images`.
            app: A newer version of the app (after it was republished); its forms must
                match the plan's.
        """
        app = app or self.app
        cnet = [
            CnetPart.from_upload(form.id, upload, form.position if app.is_group_photo else None)
            for (form, _), upload in zip(self.images, uploads, strict=True)
        ]
        return GenerateRequest(
            app_id=app.id,
            version_id=app.version_id,
            generate_num=self.count,
            cnet=cnet,
            description=self.description,
            style_id=self.style_id,
            size=self.size,
        )


def _names(items: Sequence[str]) -> str:
    return ", ".join(repr(item) for item in items) or "(none)"


def _form_label(form: Form) -> str:
    return f"{form.type.value} form {form.title or form.id!r}"


def _match_cnet_images(
    app: App, image: ImageArg | None, images: Sequence[ImageArg] | Mapping[str, ImageArg] | None
) -> tuple[tuple[Form, ImageArg], ...]:
    forms = app.forms_of(FormType.CNET)
    if image is not None and images is not None:
        raise ValidationError("image", "pass image= or images=, not both")
    if not forms:
        if image is not None or images:
            raise ValidationError("image", f"app {app.name or app.id!r} takes no image")
        return ()
    if image is not None:
        if len(forms) > 1:
            raise ValidationError(
                "images",
                f"this app places {len(forms)} images: pass images= by position "
                f"({_names([f.position or f.id for f in forms])})",
            )
        return ((forms[0], image),)
    if images is None:
        raise ValidationError(
            "image", f"{_form_label(forms[0])} needs an image (image= or images=)"
        )
    if isinstance(images, Mapping):
        matched: list[tuple[Form, ImageArg]] = []
        keys = dict(images)
        for form in forms:
            key = next(
                (k for k in (form.position, form.id, form.title) if k is not None and k in keys),
                None,
            )
            if key is None:
                raise ValidationError(
                    "images", f"{_form_label(forms[0])} at position {form.position!r} has no image"
                )
            matched.append((form, keys.pop(key)))
        if keys:
            valid = [f.position or f.id for f in forms]
            raise ValidationError(
                "images", f"no cnet form {_names(list(keys))}; valid positions: {_names(valid)}"
            )
        return tuple(matched)
    if isinstance(images, str | bytes) or len(images) != len(forms):
        raise ValidationError(
            "images", f"this app takes {len(forms)} image(s), one per position, in order"
        )
    return tuple(zip(forms, images, strict=True))


def _find_input(inputs: Sequence[Input], key: str) -> Input | None:
    return next((i for i in inputs if key in (i.id, i.title)), None)


def _descriptions(
    app: App,
    prompt: str | None,
    prompts: Mapping[str, str] | None,
    tags: Mapping[str, str] | str | None,
) -> tuple[DescriptionPart, ...]:
    forms = app.forms_of(FormType.DESCRIPTION)
    if not forms:
        if prompt or prompts or tags:
            raise ValidationError("prompt", f"app {app.name or app.id!r} takes no prompt")
        return ()
    # Every slot a prompt can fill: each input of a form with inputs, else the form itself.
    slots: list[tuple[str, str, Input | None]] = []
    for form in forms:
        if form.inputs:
            slots += [(i.id, i.title, i) for i in form.inputs]
        else:
            slots.append((form.id, form.title, None))
    values: dict[str, str] = {}

    def slot_for(key: str, field: str) -> tuple[str, str, Input | None]:
        found = next((s for s in slots if key in (s[0], s[1])), None)
        if found is None:
            raise ValidationError(
                field, f"no prompt input {key!r}; valid inputs: {_names([s[0] for s in slots])}"
            )
        return found

    if prompt is not None:
        if not isinstance(prompt, str):
            raise ValidationError("prompt", f"must be a string, got {type(prompt).__name__}")
        if not prompt.strip():
            raise ValidationError("prompt", "the prompt is empty")
        values[slots[0][0]] = prompt
    for key, value in (prompts or {}).items():
        if not isinstance(value, str) or not value.strip():
            raise ValidationError("prompts", f"the prompt for {key!r} is empty")
        values[slot_for(key, "prompts")[0]] = value
    chosen = {slots[0][1]: tags} if isinstance(tags, str) else dict(tags or {})
    for key, tag in chosen.items():
        slot_id, _, found = slot_for(key, "tags")
        if found is None or tag not in found.tags:
            valid = found.tags if found else ()
            raise ValidationError(
                "tags", f"{tag!r} is not a tag of {key!r}; choose one of {_names(valid)}"
            )
        values[slot_id] = f"{values[slot_id]}, {tag}" if slot_id in values else tag
    for form in forms:
        ids = {i.id for i in form.inputs} or {form.id}
        if not ids & values.keys():
            raise ValidationError(
                "prompt", f"{_form_label(form)} needs a prompt (prompt=, prompts= or tags=)"
            )
    return tuple(DescriptionPart(slot_id, value) for slot_id, value in values.items())


def _style(app: App, style: str | None) -> str | None:
    if not app.forms_of(FormType.STYLE):
        if style is not None:
            raise ValidationError("style", f"app {app.name or app.id!r} has no style choice")
        return None
    names = [s.name for s in app.styles]
    if style is None:
        raise ValidationError("style", f"choose a style: {_names(names)}")
    if not isinstance(style, str):
        raise ValidationError("style", f"must be a style's name or id, got {style!r}")
    for candidate in app.styles:
        if style in (candidate.id, candidate.name):
            return candidate.id
    lowered = [s for s in app.styles if s.name.casefold() == style.casefold()]
    if len(lowered) == 1:
        return lowered[0].id
    raise ValidationError("style", f"unknown style {style!r}; choose one of {_names(names)}")


def _size(app: App, aspect: str | Size | None) -> Size | None:
    if not app.forms_of(FormType.SIZE):
        if aspect is not None:
            raise ValidationError("aspect", f"app {app.name or app.id!r} has no size choice")
        return None
    if aspect is None:
        raise ValidationError("aspect", f"choose an aspect: {_names([s.aspect for s in Size])}")
    if not isinstance(aspect, Size | str):
        raise ValidationError("aspect", f"must be like '16:9' or a Size, got {aspect!r}")
    return aspect if isinstance(aspect, Size) else Size.from_aspect(aspect)


def plan(
    app: App,
    *,
    image: ImageArg | None = None,
    images: Sequence[ImageArg] | Mapping[str, ImageArg] | None = None,
    prompt: str | None = None,
    prompts: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | str | None = None,
    style: str | None = None,
    aspect: str | Size | None = None,
    count: int = 1,
) -> Plan:
    """
    Check a generation against the app's forms and say what to upload and send.

    Args:
        app: The app's details.
        image: The image for an app with one cnet form.
        images: For group photos: images in position order, or keyed by position,
            form id or form title.
        prompt: The text for the (first) description form or input.
        prompts: Texts keyed by input id or title (or form id for forms without inputs).
        tags: A tag from an input's ``tags`` (keyed by input id or title, or a single tag
            for the first input); appended to that input's prompt.
        style: A style's name or id from the app's ``styleArr``.
        aspect: ``"16:9"``-style aspect, a sizeId, or a :class:`Size`.
        count: Images to generate, 1-4.  Node and video apps make one result per
            request, but app details do not say which apps those are, so a larger count
            is left for the server to judge (its 324011 refusal costs nothing).

    Raises:
        ValidationError: Naming the field and the valid choices.
    """
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_GENERATE_NUM:
        raise ValidationError(
            "count", f"must be an integer from 1 to {MAX_GENERATE_NUM}, got {count!r}"
        )
    return Plan(
        app=app,
        count=count,
        images=_match_cnet_images(app, image, images),
        description=_descriptions(app, prompt, prompts, tags),
        style_id=_style(app, style),
        size=_size(app, aspect),
    )
