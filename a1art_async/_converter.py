"""
The one cattrs converter between the wire's JSON and the SDK's models.

Hooks it registers, and why:

- attrs classes: camelCase keys on the wire, snake_case attributes (``formArr`` becomes
  ``forms``, ``styleArr`` becomes ``styles``); unknown keys are ignored so that new
  server fields do not break old clients; ``null`` is read as "absent", so a missing or
  null optional field takes its default.
- ``str``: strings, and integers turned into strings (ids are strings even if a server
  sends them as numbers); anything else is an error rather than ``str(obj)``.
- ``int``: integers and integer-looking strings (``"2"``); booleans are refused.
- ``float``: numbers and numeric strings (``processTime`` is sent as ``"22"``).
- ``datetime``: the docs' ``2024-06-20 19:51:55.0`` format (ISO 8601 also accepted).
- ``tuple[X, ...]``: only from a JSON list; a string is not silently split into letters.
- enums: by value, integer-looking strings accepted for :class:`TaskState`.
- unstructuring requests: camelCase, ``None`` and empty lists left out, ``generateNum``
  as a string (the docs type it so) and ``size`` as ``{"sizeId": "6"}``.

Structuring errors surface as cattrs' ``ClassValidationError``; the client turns them into
:class:`~a1art_async.UnexpectedResponseError`.
"""

from __future__ import annotations

import datetime as dt
import enum
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._models import (
    App,
    CnetPart,
    DescriptionPart,
    EnhanceRequest,
    Form,
    FormType,
    GenerateRequest,
    Input,
    Size,
    Style,
    Task,
    TaskState,
    Upload,
)

T = TypeVar("T")

DATE_FORMAT = "%Y-%m-%d %H:%M:%S.%f"

#: Attribute names whose wire name is not simply the camelCase form.
_RENAMES: dict[type, dict[str, str]] = {App: {"forms": "formArr", "styles": "styleArr"}}


def camel(name: str) -> str:
    """
    ``snake_case`` to ``camelCase``.
    """
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _structure_str(value: object, _: type) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _structure_int(value: object, _: type) -> int:
    if isinstance(value, bool):
        raise TypeError("expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise TypeError(f"expected an integer, got {value!r:.40}")


def _structure_float(value: object, _: type) -> float:
    if isinstance(value, bool):
        raise TypeError("expected a number, got a boolean")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return float(value)
    raise TypeError(f"expected a number, got {type(value).__name__}")


def parse_date(value: str) -> dt.datetime:
    """
    Parse the API's ``2024-06-20 19:51:55.0`` dates (naive, in the server's zone).
    """
    # fromisoformat reads "2024-06-20 19:51:55.0" too, at a hundredth of strptime's cost:
    # it runs for every date of every task poll.
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return dt.datetime.strptime(value, DATE_FORMAT)


def format_date(value: dt.datetime) -> str:
    """
    Format a date the way the API does: one digit of fraction, ``19:51:55.0``.
    """
    return value.strftime("%Y-%m-%d %H:%M:%S.") + str(value.microsecond // 100_000)


def _structure_datetime(value: object, _: type) -> dt.datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected a date string, got {type(value).__name__}")
    return parse_date(value)


def _is_homogeneous_tuple(cls: Any) -> bool:
    args = typing.get_args(cls)
    return typing.get_origin(cls) is tuple and len(args) == 2 and args[1] is Ellipsis


def _enum_hook(converter: cattrs.Converter) -> Callable[[object, type[enum.Enum]], enum.Enum]:
    def structure(value: object, cls: type[enum.Enum]) -> enum.Enum:
        if issubclass(cls, enum.IntEnum):
            return cls(converter.structure(value, int))
        return cls(value)

    return structure


def _tuple_hook(converter: cattrs.Converter) -> Callable[[object, Any], tuple[Any, ...]]:
    def structure(value: object, cls: Any) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        item = typing.get_args(cls)[0]
        return tuple(converter.structure(v, item) for v in value)

    return structure


def _attrs_structure_hook(
    converter: cattrs.Converter, cls: type[Any]
) -> Callable[[object, type[Any]], Any]:
    renames = _RENAMES.get(cls, {})
    overrides = {
        a.name: override(rename=renames.get(a.name, camel(a.name))) for a in attrs.fields(cls)
    }
    base = make_dict_structure_fn(cls, converter, **overrides)  # type: ignore[arg-type]

    def structure(value: object, _: type[Any]) -> Any:
        if not isinstance(value, dict):
            raise TypeError(f"expected an object for {cls.__name__}, got {type(value).__name__}")
        return base({k: v for k, v in value.items() if v is not None}, cls)

    return structure


def _unstructure_request(converter: cattrs.Converter, cls: type[Any]) -> Callable[[Any], Any]:
    base = make_dict_unstructure_fn(
        cls,
        converter,
        _cattrs_omit_if_default=True,
        **{a.name: override(rename=camel(a.name)) for a in attrs.fields(cls)},  # type: ignore[arg-type]
    )

    def unstructure(value: Any) -> dict[str, Any]:
        return {k: v for k, v in base(value).items() if v not in (None, [], ())}

    return unstructure


def make_converter() -> cattrs.Converter:
    """
    Build the converter; see the module docstring for every hook.
    """
    converter = cattrs.Converter()
    # Registered by class, these also match subclasses (TaskState is an int, FormType a
    # str), so the enums get hooks of their own below, which singledispatch prefers.
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(dt.datetime, _structure_datetime)
    for enum_cls in (TaskState, FormType):
        converter.register_structure_hook(enum_cls, _enum_hook(converter))
    converter.register_structure_hook_func(_is_homogeneous_tuple, _tuple_hook(converter))
    for model in (App, Form, Input, Style, Upload, Task):
        converter.register_structure_hook(model, _attrs_structure_hook(converter, model))

    converter.register_unstructure_hook(Size, lambda size: {"sizeId": size.value})
    for request in (CnetPart, DescriptionPart, EnhanceRequest):
        converter.register_unstructure_hook(request, _unstructure_request(converter, request))
    generate = _unstructure_request(converter, GenerateRequest)
    converter.register_unstructure_hook(
        GenerateRequest,
        lambda request: {**generate(request), "generateNum": str(request.generate_num)},
    )
    return converter


#: The SDK's converter.
converter = make_converter()


def structure_task(data: object, task_id: str) -> Task:
    """
    Read a task body, attaching the id it was queried with.
    """
    if not isinstance(data, dict):
        raise TypeError(f"expected an object for Task, got {type(data).__name__}")
    return converter.structure({**data, "taskId": task_id}, Task)


def structure(data: object, cls: type[T]) -> T:
    """
    Read wire data into a model.
    """
    return converter.structure(data, cls)


def unstructure(value: object) -> Any:
    """
    Write a model as wire data.
    """
    return converter.unstructure(value)
