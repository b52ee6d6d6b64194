"""
Reading the gateway's ``data`` in the vendors' shapes: images (URLs and bytes), task
ids, states in every usual spelling and any case, and the answers that say nothing.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from a1art_async import gateway
from a1art_async._engine._errors import is_transient
from a1art_async.gateway._results import (
    content_type_of,
    find_images,
    find_state,
    find_task_id,
    read_submission,
    read_task,
    status_of,
)
from a1art_async.testing import jpeg_bytes, png_bytes

PNG = png_bytes(2, 2)
JPEG = jpeg_bytes(2, 2)
B64 = base64.b64encode(PNG).decode()
URL = "https://cdn.example/results/a.png"
URL2 = "https://cdn.example/results/b.png?Expires=1&Signature=x"

SHAPES: dict[str, tuple[Any, list[gateway.Image]]] = {
    "openai urls": (
        {"created": 1, "data": [{"url": URL}, {"url": URL2}]},
        [
            gateway.Image(url=URL),
            gateway.Image(url=URL2),
        ],
    ),
    "openai b64_json": (
        {"created": 1, "data": [{"b64_json": B64}]},
        [gateway.Image(data=PNG, content_type="image/png")],
    ),
    "a bare list of items": (
        [{"url": URL}, {"b64_json": B64}],
        [
            gateway.Image(url=URL),
            gateway.Image(data=PNG, content_type="image/png"),
        ],
    ),
    "a bare list of urls": ([URL, URL2], [gateway.Image(url=URL), gateway.Image(url=URL2)]),
    "images": ({"images": [URL]}, [gateway.Image(url=URL)]),
    "image_urls": ({"image_urls": [URL, URL2]}, [gateway.Image(url=URL), gateway.Image(url=URL2)]),
    "urls": ({"urls": [URL]}, [gateway.Image(url=URL)]),
    "url": ({"url": URL}, [gateway.Image(url=URL)]),
    "ark": (
        {"model": "m", "created": 1, "data": [{"url": URL, "size": "1024x1024"}], "usage": {}},
        [gateway.Image(url=URL)],
    ),
    "volcano visual, both ways": (
        {
            "code": 10000,
            "status": 10000,
            "data": {"binary_data_base64": [B64], "image_urls": [URL]},
        },
        [gateway.Image(url=URL, data=PNG, content_type="image/png")],
    ),
    "volcano visual, bytes only": (
        {"data": {"binary_data_base64": [B64], "image_urls": None}},
        [gateway.Image(data=PNG, content_type="image/png")],
    ),
    "bailian": (
        {"request_id": "r", "output": {"task_status": "SUCCEEDED", "results": [{"url": URL}]}},
        [gateway.Image(url=URL)],
    ),
    "bailian with a failed image": (
        {"output": {"results": [{"code": "DataInspectionFailed", "message": "no"}, {"url": URL}]}},
        [gateway.Image(url=URL)],
    ),
    "generic result": (
        {"status": "succeeded", "result": {"images": [{"url": URL}]}},
        [gateway.Image(url=URL)],
    ),
    "a data: url": (
        {"url": f"data:image/png;base64,{B64}"},
        [gateway.Image(data=PNG, content_type="image/png")],
    ),
}


@pytest.mark.parametrize("name", list(SHAPES))
def test_images_are_found_in_the_common_shapes(name: str) -> None:
    """
    Each common vendor shape gives its images, typed as URLs or bytes.
    """
    data, expected = SHAPES[name]
    assert tuple(expected) == find_images(data)


@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        {"data": []},
        {"url": "/relative/path.png"},
        {"url": "ftp://host/a.png"},
        {"b64_json": "not base64 !"},
        {"images": [42, None, {"name": "x"}]},
        {"output": {"task_id": "t", "task_status": "RUNNING"}},
        "https://cdn.example/a.png",
    ],
)
def test_what_is_not_an_image_is_not_found(data: Any) -> None:
    """
    Relative or non-HTTP URLs, invalid base64 and other values are not images.
    """
    assert () == find_images(data)


def test_content_types_come_from_the_bytes() -> None:
    """
    PNG, JPEG, GIF and WebP are recognised by their first bytes; anything else is None.
    """
    assert ["image/png", "image/jpeg", "image/gif", "image/webp", None] == [
        content_type_of(data)
        for data in (PNG, JPEG, b"GIF89a....", b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"\x00\x01")
    ]


@pytest.mark.parametrize(
    ("words", "status"),
    [
        (("PENDING", "QUEUED", "SUBMITTED", "SUSPENDED"), gateway.JobStatus.QUEUED),
        (("RUNNING", "PROCESSING", "IN_PROGRESS", "in-progress"), gateway.JobStatus.RUNNING),
        (("SUCCEEDED", "SUCCESS", "COMPLETED", "DONE"), gateway.JobStatus.SUCCEEDED),
        (
            ("FAILED", "FAILURE", "ERROR", "CANCELED", "CANCELLED", "UNKNOWN"),
            gateway.JobStatus.FAILED,
        ),
    ],
)
def test_the_usual_state_spellings_in_any_case(words: tuple[str, ...], status: Any) -> None:
    """
    Every usual spelling, in upper, lower and mixed case, means its status.
    """
    spelled = [form for word in words for form in (word, word.lower(), word.title())]
    assert [status] * len(spelled) == [status_of(word) for word in spelled]


def test_other_state_words_mean_nothing() -> None:
    """
    A word outside the usual spellings has no status.
    """
    assert [None, None, None] == [status_of(word) for word in ("STALLED", "10", "")]


def test_states_and_task_ids_are_found_where_vendors_put_them() -> None:
    """
    The state is the first string among the state keys at the top, then in ``output``;
    task ids are ``task_id``/``taskId`` at the top or in ``output``, else ``id``.
    """
    assert ["RUNNING", "queued", "IN_PROGRESS", None] == [
        find_state(data)
        for data in (
            {"output": {"task_id": "t", "task_status": "RUNNING"}},
            {"task_id": "t", "status": "queued"},
            {"taskId": "t", "state": "IN_PROGRESS"},
            {"code": 10000, "status": 10000},  # numbers are not states
        )
    ]
    assert ["a", "b", "c", "d", None, None] == [
        find_task_id(data)
        for data in (
            {"task_id": "a", "id": "x"},
            {"taskId": "b"},
            {"output": {"task_id": "c"}},
            {"id": "d"},
            {"id": True},
            [{"task_id": "e"}],
        )
    ]


def test_a_task_without_a_known_state_or_an_image_is_a_typed_error() -> None:
    """
    An unrecognised state, or none, without an image raises ``UnknownStateError``
    carrying the state and the data, which no wait retries; with images the images win.
    """
    with pytest.raises(gateway.UnknownStateError) as stalled:
        read_task({"status": "STALLED"}, task_id="t")
    with pytest.raises(gateway.UnknownStateError) as nothing:
        read_task({"task_id": "t"}, task_id="t")
    assert ("STALLED", {"status": "STALLED"}, "t") == (
        stalled.value.state,
        stalled.value.data,
        stalled.value.task_id,
    )
    assert nothing.value.state is None
    assert (
        gateway.JobStatus.SUCCEEDED == read_task({"state": "odd", "url": URL}, task_id="t").status
    )
    assert not is_transient(stalled.value)  # a wait ends on it instead of polling again


def test_a_failed_task_keeps_the_vendors_words() -> None:
    """
    A failed task's code and message come from where its vendor puts them.
    """
    bailian = {"output": {"task_status": "FAILED", "code": "InternalError", "message": "boom"}}
    generic = {"status": "failed", "error": {"code": "e1", "message": "bad"}}
    camel = {"state": "ERROR", "errorMessage": "gone"}
    assert [("InternalError", "boom"), ("e1", "bad"), (None, "gone")] == [
        (task.error_code, task.error_message)
        for task in (read_task(data, task_id="t") for data in (bailian, generic, camel))
    ]


def test_a_submission_answer_is_a_task_id_or_the_generation() -> None:
    """
    A task id without images (and not failed) is a task to poll; images are the
    generation itself; neither is a generation without images; a failed state ends it.
    """
    assert "t1" == read_submission({"output": {"task_id": "t1", "task_status": "PENDING"}}, "m")
    assert "t2" == read_submission({"taskId": "t2", "state": "SUCCEEDED"}, "m")
    answer = read_submission({"data": [{"url": URL}]}, "m")
    empty = read_submission({"created": 1, "data": []}, "m")
    failed = read_submission({"task_id": "t3", "status": "FAILED", "message": "no"}, "m")
    assert isinstance(answer, gateway.Task)
    assert isinstance(empty, gateway.Task)
    assert isinstance(failed, gateway.Task)
    assert (True, gateway.JobStatus.SUCCEEDED, (gateway.Image(url=URL),)) == (
        answer.synchronous,
        answer.status,
        answer.images,
    )
    assert answer.task_id.startswith("sync-")
    assert (gateway.JobStatus.SUCCEEDED, None) == (empty.status, empty.result)
    assert (gateway.JobStatus.FAILED, "t3", "no") == (
        failed.status,
        failed.task_id,
        failed.error_message,
    )
