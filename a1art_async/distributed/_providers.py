"""
From a journal row to a provider's batch :class:`~.._engine._batch.Job`, by the row's
``provider`` field (``a1art`` by default), so that any worker can rebuild any job from
the database alone.

A provider registers a :class:`Provider`: how to turn what ``batch.add`` was given into
JSON parameters (refusing what another machine could not read), how to rebuild the job
from them with an open client, and what the engine's batch needs from that client.

Registered here: ``a1art`` (the parameters of ``client.generate``), ``akool`` and
``gateway``, whose parameters are a job file's row without its ``provider`` and ``key``
(``akool/_rows.py``, ``gateway/_rows.py``: a create or a press on another row's image;
a model with its prompt and parameters).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from .._batch import A1ArtJob, derive_key
from .._engine._batch import Job
from .._engine._errors import ValidationError
from .._generation import GenerateArgs
from .._models import App, Size, Upload
from ..akool import _rows as akool_rows
from ..gateway import _rows as gateway_rows

#: The provider of a row that names none.
DEFAULT_PROVIDER = "a1art"


@attrs.frozen
class Provider:
    """
    How a provider's jobs travel through a shared journal.

    Attributes:
        name: The ``provider`` field of its rows.
        params: ``(app, options) -> (key, params)``: JSON parameters for a job, and its
            key when none is given.  Raises ``ValidationError`` for what cannot be
            stored (bytes, file objects).
        job: ``(client, key, params) -> Job``: the job rebuilt from its row.
        engine: ``client -> dict``: the ``http``, ``retry`` and ``listeners`` the
            engine's batch takes from the provider's client.
    """

    name: str
    params: Callable[[Any, Mapping[str, Any]], tuple[str, dict[str, Any]]]
    job: Callable[[Any, str, Mapping[str, Any]], Job]
    engine: Callable[[Any], dict[str, Any]]


_PROVIDERS: dict[str, Provider] = {}


def register_provider(provider: Provider) -> None:
    """
    Make a provider's rows runnable by workers (a1.art's is registered already).
    """
    _PROVIDERS[provider.name] = provider


def provider(name: str | None) -> Provider:
    """
    The provider a row names.

    Raises:
        ValidationError: No such provider is registered.
    """
    found = _PROVIDERS.get(name or DEFAULT_PROVIDER)
    if found is None:
        known = ", ".join(sorted(_PROVIDERS))
        raise ValidationError("provider", f"unknown provider {name!r}; registered: {known}")
    return found


def _portable(field: str, value: Any) -> Any:
    """
    An image argument as JSON every worker can read: a path or a URL.
    """
    if isinstance(value, Upload):
        return {"upload": [value.image_url, value.path]}
    if isinstance(value, os.PathLike):
        return os.path.abspath(os.fspath(value))
    if isinstance(value, str):
        if "://" in value:
            return value
        return os.path.abspath(os.path.expanduser(value))
    raise ValidationError(
        field,
        "a distributed batch stores each job in the journal for any worker to run: "
        "give a file path (readable by every worker) or an http(s) URL, not "
        + type(value).__name__,
    )


def _a1art_params(app: Any, options: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    app_id = app.id if isinstance(app, App) else app
    if not isinstance(app_id, str) or not app_id:
        raise ValidationError("app", f"must be an app id, got {app_id!r}")
    params: dict[str, Any] = {"app": app_id}
    for name, value in options.items():
        if value is None:
            continue
        if name == "image":
            value = _portable("image", value)
        elif name == "images":
            if isinstance(value, Mapping):
                value = {str(k): _portable("images", v) for k, v in value.items()}
            else:
                value = [_portable("images", v) for v in value]
        elif name == "aspect" and isinstance(value, Size):
            value = value.value
        elif name in ("prompts", "tags") and isinstance(value, Mapping):
            value = dict(value)
        params[name] = value
    args = _a1art_args(params)
    return derive_key(app_id, args), params


def _image_arg(value: Any) -> Any:
    if isinstance(value, dict) and "upload" in value:
        image_url, path = value["upload"]
        return Upload(image_url=image_url, path=path)
    return value


def _a1art_args(params: Mapping[str, Any]) -> GenerateArgs:
    options = {k: v for k, v in params.items() if k not in ("app", "language")}
    if "image" in options:
        options["image"] = _image_arg(options["image"])
    images = options.get("images")
    if isinstance(images, dict):
        options["images"] = {k: _image_arg(v) for k, v in images.items()}
    elif isinstance(images, list):
        options["images"] = [_image_arg(v) for v in images]
    try:
        return GenerateArgs(**options)
    except TypeError as error:
        raise ValidationError("params", f"not a job's parameters: {error}") from None


def _a1art_job(client: Any, key: str, params: Mapping[str, Any]) -> Job:
    app = params.get("app")
    if not isinstance(app, str) or not app:
        raise ValidationError("app", "missing (the app id)")
    return A1ArtJob(
        key,
        app,
        _a1art_args(params),
        generator=client._generator,
        tasks=client.tasks,
        language=params.get("language"),
    )


def _engine_parts(client: Any) -> dict[str, Any]:
    session = client._session
    return {"http": session.http, "retry": session.retry, "listeners": session.listeners}


register_provider(
    Provider(name="a1art", params=_a1art_params, job=_a1art_job, engine=_engine_parts)
)


def _row_params(name: str, options: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """
    A job file's row (without ``provider`` and ``key``) as a journal row's parameters,
    and the key it gets when it names none.
    """
    params = {field: value for field, value in options.items() if field not in ("provider", "key")}
    try:
        json.dumps(params, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValidationError("params", f"must be JSON: {error}") from None
    if name == "akool":
        return akool_rows.row_key(params), params
    return gateway_rows.row_key({**params, "provider": name}), params


def _akool_params(_: Any, options: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    return _row_params("akool", options)


def _gateway_params(_: Any, options: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    return _row_params("gateway", options)


def _akool_job(client: Any, key: str, params: Mapping[str, Any]) -> Job:
    return akool_rows.batch_job(client, {**params, "provider": "akool", "key": key}, Path())


def _gateway_job(client: Any, key: str, params: Mapping[str, Any]) -> Job:
    return gateway_rows.batch_job(client, {**params, "provider": "gateway", "key": key}, Path())


# The engine's batch takes the same three things from every provider's client (each has a
# session with its pool, retries and listeners).
register_provider(
    Provider(name="akool", params=_akool_params, job=_akool_job, engine=_engine_parts)
)
register_provider(
    Provider(name="gateway", params=_gateway_params, job=_gateway_job, engine=_engine_parts)
)
