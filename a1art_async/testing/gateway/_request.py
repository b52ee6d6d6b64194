"""
Reading a generation request: the documented ``model`` and the vendor's parameters.

Every refusal is the documented 400 "Invalid request parameters", checked in this order:
the body is not a JSON object; ``model`` is missing, not a string or not in the catalog;
the prompt (``prompt``, or Bailian's ``input.prompt``) is missing, not a string or blank;
``n`` (or Bailian's ``parameters.n``) is not an integer from 1 to 4; ``size`` (or
``parameters.size``) is not ``WxH`` or ``W*H``; ``response_format`` is not ``url`` or
``b64_json`` (gpt-image style models take ``b64_json`` only); ``return_url`` is not a
boolean.  Other parameters are accepted and ignored, as a gateway passing them on to a
vendor would.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

import attrs

from ._catalog import CATALOG, Model
from ._envelope import Refusal
from ._records import ResponseFormat

MAX_IMAGES: Final = 4
MAX_PROMPT: Final = 10_000
_SIZE: Final = re.compile(r"([0-9]{2,5})[x*]([0-9]{2,5})")


@attrs.frozen
class Ask:
    """
    A generation request, read and checked.
    """

    model: Model
    prompt: str
    count: int
    response_format: ResponseFormat
    size: tuple[int, int] | None
    return_url: bool


def _object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refusal from None
    if not isinstance(payload, dict):
        raise Refusal
    return payload


def _nested(payload: dict[str, Any], group: str, name: str) -> Any:
    """
    ``payload[name]``, else ``payload[group][name]`` (Bailian nests its parameters).
    """
    if name in payload:
        return payload[name]
    inner = payload.get(group)
    return inner.get(name) if isinstance(inner, dict) else None


def read(body: bytes) -> Ask:
    """
    Check a generation request.

    Raises:
        Refusal: The documented 400, at the first parameter that is wrong.
    """
    payload = _object(body)
    name = payload.get("model")
    model = CATALOG.get(name) if isinstance(name, str) else None
    if model is None:
        raise Refusal
    prompt = _nested(payload, "input", "prompt")
    if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > MAX_PROMPT:
        raise Refusal
    count = _nested(payload, "parameters", "n")
    if count is None:
        count = 1
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_IMAGES:
        raise Refusal
    size_text = _nested(payload, "parameters", "size")
    size = None
    if size_text is not None:
        found = _SIZE.fullmatch(size_text) if isinstance(size_text, str) else None
        if found is None:
            raise Refusal
        size = (int(found[1]), int(found[2]))
    wanted = payload.get("response_format")
    if wanted is None:
        wanted = "b64_json" if model.b64 else "url"
    only_b64 = model.b64 and model.shape == "openai"
    if wanted not in ("url", "b64_json") or (only_b64 and wanted != "b64_json"):
        raise Refusal
    return_url = payload.get("return_url", False)
    if not isinstance(return_url, bool):
        raise Refusal
    response_format: ResponseFormat = "url" if wanted == "url" else "b64_json"
    return Ask(model, prompt, count, response_format, size, return_url)
