"""
What ``data`` holds, in each vendor's shape: a synchronous model's answer, an
asynchronous model's submission answer, and a task query's answer.

- ``ark`` (Volcano Engine Ark): ``{model, created, data: [{url | b64_json, size}], usage}``
- ``visual`` (Volcano Engine visual services): ``{code: 10000, data: {binary_data_base64,
  image_urls}, message, request_id, status: 10000, time_elapsed}``
- ``openai``: ``{created, data: [{url, revised_prompt} | {b64_json}], usage?}``
- ``bailian`` (Alibaba Cloud DashScope): ``{request_id, output: {task_id, task_status,
  submit_time, scheduled_time, end_time, results: [{url}], task_metrics, code, message},
  usage}``, states in capitals
- ``generic``: ``{task_id, status, progress, result: {images: [{url}]}, error}``, states
  in lower case (``queued``, ``processing``, ``succeeded``, ``failed``)
- ``camel``: ``{taskId, state, image_urls, errorMessage}`` with ``SUBMITTED``,
  ``IN_PROGRESS``, ``COMPLETED``, ``ERROR``
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from ._records import Generation, Phase

EPOCH: Final = datetime(2025, 1, 8, 16, 3, 59, tzinfo=UTC)
"""The wall-clock moment the emulator's first reading stands for."""

#: The state word of a task that runs but says so in words no client knows.
ODD_STATE: Final = "STALLED"

_STATES: Final[dict[str, dict[Phase, str]]] = {
    "bailian": {
        "queued": "PENDING",
        "running": "RUNNING",
        "succeeded": "SUCCEEDED",
        "failed": "FAILED",
        "forgotten": "UNKNOWN",
    },
    "generic": {
        "queued": "queued",
        "running": "processing",
        "succeeded": "succeeded",
        "failed": "failed",
    },
    "camel": {
        "queued": "SUBMITTED",
        "running": "IN_PROGRESS",
        "succeeded": "COMPLETED",
        "failed": "ERROR",
    },
}

Data = dict[str, Any]
Pictures = Callable[[int], bytes]


def moment(when: float, started: float) -> datetime:
    """
    The wall-clock moment of emulator time *when*, given the timeline's first reading.
    """
    return EPOCH + timedelta(seconds=when - started)


def _stamp(when: float, started: float) -> str:
    # DashScope's format: "2025-01-08 16:03:59.840".
    return moment(when, started).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _size(generation: Generation) -> str:
    width, height = generation.size or (1024, 1024)
    return f"{width}x{height}"


def answer(
    generation: Generation,
    urls: Sequence[str],
    pictures: Pictures,
    *,
    started: float,
    request_id: str,
) -> Data:
    """
    A synchronous model's ``data``: its images in its vendor's shape.
    """
    model = generation.model
    count = generation.count
    created = int(moment(generation.created_at, started).timestamp())
    inline = generation.response_format == "b64_json"
    if model.shape == "visual":
        data: Data = {
            "binary_data_base64": [_b64(pictures(n)) for n in range(count)],
            "image_urls": list(urls) if generation.return_url else None,
            "algorithm_base_resp": {"status_code": 0, "status_message": "Success"},
        }
        took = (generation.answered_at or generation.created_at) - generation.created_at
        return {
            "code": 10000,
            "data": data,
            "message": "Success",
            "request_id": request_id,
            "status": 10000,
            "time_elapsed": f"{took:.3f}s",
        }
    items: list[Data]
    if model.shape == "ark":
        items = [
            {"b64_json": _b64(pictures(n))} if inline else {"url": urls[n]} for n in range(count)
        ]
        for item in items:
            item["size"] = _size(generation)
        tokens = 4096 * count
        usage = {"generated_images": count, "output_tokens": tokens, "total_tokens": tokens}
        return {"model": model.name, "created": created, "data": items, "usage": usage}
    items = [
        {"b64_json": _b64(pictures(n))}
        if inline
        else {"url": urls[n], "revised_prompt": generation.prompt}
        for n in range(count)
    ]
    body: Data = {"created": created, "data": items}
    if model.b64:  # gpt-image style: token usage
        prompt_tokens = max(1, len(generation.prompt.split()))
        output_tokens = 1056 * count
        body["usage"] = {
            "input_tokens": prompt_tokens,
            "output_tokens": output_tokens,
            "total_tokens": prompt_tokens + output_tokens,
        }
    return body


def submitted(generation: Generation, *, request_id: str) -> Data:
    """
    An asynchronous model's ``data`` when its task was created.
    """
    shape = generation.model.shape
    if shape == "bailian":
        return {
            "output": {"task_id": generation.id, "task_status": "PENDING"},
            "request_id": request_id,
        }
    if shape == "camel":
        return {"taskId": generation.id, "state": "SUBMITTED"}
    return {"task_id": generation.id, "status": "queued"}


def state_word(generation: Generation, phase: Phase) -> str:
    """
    How the task's vendor spells *phase* (or the odd word of a task drawn to use one).
    """
    shape = generation.model.shape
    if phase == "running" and generation.odd_state:
        return ODD_STATE.lower() if shape == "generic" else ODD_STATE
    return _STATES[shape][phase]


def task(
    generation: Generation,
    phase: Phase,
    now: float,
    urls: Sequence[str],
    *,
    started: float,
    request_id: str,
) -> Data:
    """
    An asynchronous task's ``data`` as a query at *now* sees it.
    """
    times = generation.times
    assert times is not None  # only tasks are queried
    shape = generation.model.shape
    word = state_word(generation, phase)
    count = generation.count
    if shape == "bailian":
        output: Data = {"task_id": generation.id, "task_status": word}
        if phase == "forgotten":
            return {"request_id": request_id, "output": output}
        output["submit_time"] = _stamp(times.created_at, started)
        if phase != "queued":
            output["scheduled_time"] = _stamp(times.start_at, started)
        if phase in ("succeeded", "failed"):
            output["end_time"] = _stamp(times.due_at, started)
        body: Data = {"request_id": request_id, "output": output}
        if phase == "succeeded":
            output["results"] = [
                {"orig_prompt": generation.prompt, "actual_prompt": generation.prompt, "url": url}
                for url in urls
            ]
            output["task_metrics"] = {"TOTAL": count, "SUCCEEDED": count, "FAILED": 0}
            body["usage"] = {"image_count": count}
        elif phase == "failed":
            output["code"] = "InternalError.Algo"
            output["message"] = "An internal error has occured during execution."
            output["task_metrics"] = {"TOTAL": count, "SUCCEEDED": 0, "FAILED": count}
        return body
    if shape == "camel":
        body = {"taskId": generation.id, "state": word}
        if phase == "succeeded":
            body["image_urls"] = list(urls)
        elif phase == "failed":
            body["errorMessage"] = "generation failed"
        return body
    span = max(times.due_at - times.start_at, 1e-9)
    progress = {"queued": 0, "succeeded": 100, "failed": 100}.get(
        phase, min(99, int(100 * (now - times.start_at) / span))
    )
    body = {
        "task_id": generation.id,
        "status": word,
        "progress": progress,
        "created_at": int(moment(times.created_at, started).timestamp()),
    }
    if phase == "succeeded":
        body["result"] = {"images": [{"url": url} for url in urls]}
    elif phase == "failed":
        body["error"] = {"code": "generation_failed", "message": "the generation failed"}
    return body
