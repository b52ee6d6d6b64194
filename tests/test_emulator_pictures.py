"""
Result pictures: drawn from the upload a task used, cropped to its size, coloured by its
style and patterned by its prompt; a gradient and a pattern for text-only apps.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from a1art_async.testing import Emulator, apps, jpeg_bytes, png_bytes
from a1art_async.testing._kit._files import Pixels, decode_png, encode_png

from .test_emulator_support import (
    API,
    app_info,
    code_of,
    generate,
    plain_client,
    upload,
    valid_body,
    wait_until_complete,
)

pytestmark = pytest.mark.anyio

BLACK, WHITE = b"\x00\x00\x00", b"\xff\xff\xff"


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


def _halves(width: int, height: int, left: bytes, right: bytes) -> bytes:
    """
    A PNG whose left half is one colour and right half another.
    """
    row = left * (width // 2) + right * (width - width // 2)
    return encode_png(Pixels(width, height, (row,) * height))


def _brightness(pixels: Pixels, columns: range) -> float:
    total = sum(sum(row[3 * columns.start : 3 * columns.stop]) for row in pixels.rows)
    return total / (3 * len(columns) * pixels.height)


async def _results(emu: Emulator, c: httpx.AsyncClient, body: dict[str, Any]) -> list[bytes]:
    response = await generate(c, body)
    assert 0 == code_of(response)
    task_id = response.json()["data"]["taskId"]
    await wait_until_complete(emu, task_id)
    files = [await c.get(url) for url in emu.tasks[task_id].images]
    assert all("image/png" == f.headers["content-type"] for f in files)
    return [f.content for f in files]


def _pixels(data: bytes) -> Pixels:
    pixels = decode_png(data)
    assert pixels is not None
    return pixels


async def _pet(
    c: httpx.AsyncClient, picture: bytes, style: int, size_id: str = "1", prompt: str = "cat"
) -> dict[str, Any]:
    """
    A FORM ("Crazy Pet") body with this picture, the app's *style*-th style and a size.
    """
    body = await valid_body(c, apps.FORM)
    info = await app_info(c, apps.FORM)
    body["cnet"][0].update(await upload(c, picture))
    body["styleId"] = info["styleArr"][style]["id"]
    body["size"] = {"sizeId": size_id}
    body["description"][0]["value"] = prompt
    return body


async def test_a_result_differs_by_style_and_keeps_the_requested_aspect() -> None:
    """
    The same upload and prompt give the same 16:9 picture in the same style, and a
    different one in another style.
    """
    emu = Emulator()
    picture = _halves(300, 200, BLACK, WHITE)
    async with plain_client(emu) as c:
        first = await _results(emu, c, await _pet(c, picture, style=0, size_id="6"))
        same = await _results(emu, c, await _pet(c, picture, style=0, size_id="6"))
        other = await _results(emu, c, await _pet(c, picture, style=1, size_id="6"))
    a, b = _pixels(first[0]), _pixels(other[0])
    assert first == same
    assert (256, 144) == (a.width, a.height) == (b.width, b.height)
    assert 16 / 9 == pytest.approx(a.width / a.height, rel=0.01)
    pairs = zip(b"".join(a.rows), b"".join(b.rows), strict=True)
    assert sum(x != y for x, y in pairs) > 0.5 * 3 * 256 * 144


async def test_a_result_is_cropped_from_the_upload() -> None:
    """
    A square result of a wide picture, dark on the left and light on the right, keeps its
    middle: dark on the left, light on the right.
    """
    emu = Emulator()
    async with plain_client(emu) as c:
        (result,) = await _results(emu, c, await _pet(c, _halves(400, 100, BLACK, WHITE), 0))
        (flipped,) = await _results(emu, c, await _pet(c, _halves(400, 100, WHITE, BLACK), 0))
    pixels, mirrored = _pixels(result), _pixels(flipped)
    assert (256, 256) == (pixels.width, pixels.height)
    left, right = range(0, 100), range(156, 256)
    assert _brightness(pixels, left) + 60 < _brightness(pixels, right)
    assert _brightness(mirrored, right) + 60 < _brightness(mirrored, left)


async def test_a_group_photo_puts_each_upload_on_its_side() -> None:
    """
    A group photo's result shows the first upload on the left and the second on the right.
    """
    emu = Emulator()
    async with plain_client(emu) as c:
        body = await valid_body(c, apps.GROUP_PHOTO)
        body["cnet"][0].update(await upload(c, png_bytes(64, 64, (0, 0, 0))))
        body["cnet"][1].update(await upload(c, png_bytes(64, 64, (255, 255, 255))))
        (result,) = await _results(emu, c, body)
    pixels = _pixels(result)
    assert _brightness(pixels, range(0, 100)) + 60 < _brightness(pixels, range(156, 256))


async def test_text_apps_draw_the_same_picture_for_the_same_prompt_and_style() -> None:
    """
    Without an upload, the picture (a gradient under a pattern, not one flat colour)
    follows from prompt and style alone: two tasks with the same ones match, another
    prompt differs, and each result of a task differs.
    """
    emu = Emulator()
    async with plain_client(emu) as c:
        body = await valid_body(c, apps.TEXT, "2")
        first = await _results(emu, c, body)
        again = await _results(emu, c, body)
        body["description"][0]["value"] = "a different prompt"
        other = await _results(emu, c, body)
    assert first == again
    assert first[0] != first[1]
    assert first[0] != other[0]
    rows = _pixels(first[0]).rows
    assert len({row[i : i + 3] for row in rows for i in range(0, len(row), 3)}) > 8


async def test_a_jpeg_upload_still_gives_a_picture_of_the_requested_size() -> None:
    """
    A JPEG upload (not decoded) gives a PNG of the requested size all the same.
    """
    emu = Emulator()
    async with plain_client(emu) as c:
        (result,) = await _results(emu, c, await _pet(c, jpeg_bytes(80, 60), 2, size_id="7"))
    pixels = _pixels(result)
    assert (144, 256) == (pixels.width, pixels.height)


async def test_results_are_drawn_when_downloaded_and_served_the_same_each_time() -> None:
    """
    A result's bytes are the same on every download and on a HEAD's Content-Length.
    """
    emu = Emulator()
    async with plain_client(emu) as c:
        body = await _pet(c, _halves(200, 200, BLACK, WHITE), 1)
        (first,) = await _results(emu, c, body)
        task_id = emu.journal[-2].task_id
        assert task_id is not None
        url = emu.tasks[task_id].images[0]
        head = await c.head(url)
        again = await c.get(url)
    assert first == again.content
    assert str(len(first)) == head.headers["content-length"]


async def test_the_task_records_what_it_was_asked_for() -> None:
    """
    A task's record holds its uploads (in position order), size, style and prompt.
    """
    emu = Emulator()
    async with plain_client(emu) as c:
        body = await _pet(c, png_bytes(), 1, size_id="4", prompt="  black devon rex cat ")
        response = await generate(c, body)
        group = await valid_body(c, apps.GROUP_PHOTO)
        group["cnet"].reverse()
        group_response = await generate(c, group)
        task = emu.tasks[response.json()["data"]["taskId"]]
        group_task = emu.tasks[group_response.json()["data"]["taskId"]]
        tasks = await c.get(f"{API}/tasks/{task.task_id}")
    assert 0 == code_of(tasks)
    assert (
        (body["cnet"][0]["imageUrl"],),
        "4",
        body["styleId"],
        "black devon rex cat",
    ) == (task.uploads, task.size_id, task.style_id, task.prompt)
    positions = {entry["position"]: entry["imageUrl"] for entry in group["cnet"]}
    assert (positions["0"], positions["1"]) == group_task.uploads
    assert group_task.prompt is None
