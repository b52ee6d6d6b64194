"""
Gateway rows of a job file (``a1art batch``, a distributed batch's journal):
``{"provider": "gateway", "key": ..., "model": ..., "prompt": ..., "params": {...}}``,
as engine batch jobs.

``key`` is optional: it is derived from the model and parameters (``gateway-`` and 16
hex digits, so that rows may be added or reordered between runs and keys of different
APIs never meet).  ``prompt`` is the ``prompt`` parameter, given as a column for
readability; every other vendor parameter goes in ``params``.  Rows name no local files.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from .._engine._errors import ValidationError
from ._batch import GatewayJob, derive_key
from ._client import AsyncClient
from ._models import GenerationRequest

#: The columns of a gateway row in a job file.
ROW_COLUMNS: Final = frozenset({"provider", "key", "model", "prompt", "params"})


def row_request(row: Mapping[str, Any]) -> GenerationRequest:
    """
    The generation request a row asks for, checked.

    Raises:
        ValidationError: Naming the column at fault (a parameter by its own name): not
            a gateway row, an unknown column, no model, params that are not an object,
            a prompt given twice, a key that is not a non-empty string, a parameter
            that is not JSON.
    """
    if row.get("provider") != "gateway":
        raise ValidationError("provider", f"must be 'gateway', got {row.get('provider')!r}")
    unknown = sorted(set(row) - ROW_COLUMNS)
    if unknown:
        columns = ", ".join(sorted(ROW_COLUMNS))
        raise ValidationError(unknown[0], f"not a column of a gateway row ({columns})")
    params = row.get("params", {})
    if not isinstance(params, Mapping) or not all(isinstance(name, str) for name in params):
        raise ValidationError("params", f"must be a JSON object, got {params!r}")
    params = dict(params)
    prompt = row.get("prompt")
    if prompt is not None:
        if "prompt" in params:
            raise ValidationError("prompt", "given twice: as a column and in params")
        params["prompt"] = prompt
    _key(row)
    return GenerationRequest.of(row.get("model"), params)  # type: ignore[arg-type]


def _key(row: Mapping[str, Any]) -> str | None:
    key = row.get("key")
    if key is not None and (not isinstance(key, str) or not key.strip()):
        raise ValidationError("key", f"must be a non-empty string, got {key!r}")
    return None if key is None else key.strip()


def row_key(row: Mapping[str, Any]) -> str:
    """
    The key of a row that names none: ``gateway-`` and a hash of the model and
    parameters.

    Raises:
        ValidationError: As :func:`row_request`.
    """
    return f"gateway-{derive_key(row_request(row))[:16]}"


def batch_job(client: AsyncClient, row: Mapping[str, Any], base: Path) -> GatewayJob:
    """
    One row of a job file (``{"provider": "gateway", "key": ..., "model": ...,
    "prompt": ..., "params": {...}}``) as a batch job.

    The job is priced from the client's credit table (1 credit for a model it does not
    name: the docs give no prices), prepares nothing, and sends one generation request.

    Args:
        client: The gateway client the batch runs on.
        row: The row, parsed.
        base: The job file's directory; gateway rows name no local files, so it is not
            read.

    Raises:
        ValidationError: A row that cannot run, naming its column: not a gateway row, an
            unknown column, no model, a prompt or key that is not a non-empty string,
            params that are not an object, a prompt given twice, a parameter that is not
            JSON.
    """
    del base  # no column names a file
    request = row_request(row)
    key = _key(row)
    return GatewayJob(
        key if key is not None else f"gateway-{derive_key(request)[:16]}",
        request,
        images=client.images,
        tasks=client.tasks,
        pricing=client.pricing,
    )
