"""
Hostile and bad input.  What a caller gets wrong is refused before any request, with a
ValidationError naming the problem; what a server gets wrong (huge, deep or mistyped
JSON, missing data, unknown states, downloads longer than announced or endless) fails
with the SDK's own errors, and memory stays bounded.
"""

from __future__ import annotations

import json
import struct
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

import a1art_async as a1
from a1art_async._engine._download import download
from a1art_async.testing import Emulator, apps, png_bytes

from ._images import GIF, WEBP
from .conftest import API_KEY

pytestmark = pytest.mark.anyio

Call = Callable[[a1.AsyncClient, a1.App, Path], Awaitable[object]]


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


def _lying_png(width: int, height: int) -> bytes:
    # The header announces another size than the picture was encoded with; its CRC
    # still guards the original size.
    data = bytearray(png_bytes(8, 8))
    data[16:24] = struct.pack(">II", width, height)
    return bytes(data)


def _file(tmp: Path, name: str, data: bytes) -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


def _generate(**options: Any) -> Call:
    base = {"image": png_bytes(), "prompt": "a cat", "style": "Watercolor", "aspect": "1:1"}

    async def call(client: a1.AsyncClient, app: a1.App, tmp: Path) -> object:
        return await client.generate(app, **{**base, **options})

    return call


TEN_MB = 10 * 1024 * 1024

CLIENT_SIDE: dict[str, tuple[Call, str, str]] = {
    "non-image bytes named .png": (
        lambda c, app, tmp: c.images.upload(_file(tmp, "photo.png", b"<html>hello</html>")),
        "image",
        "not an image",
    ),
    "a GIF": (lambda c, app, tmp: c.images.upload(GIF), "image", "GIF is not supported"),
    "a WebP named .png": (
        lambda c, app, tmp: c.images.upload(_file(tmp, "a.png", WEBP)),
        "image",
        "WEBP is not supported",
    ),
    "10 MB + 1 byte": (
        lambda c, app, tmp: c.images.upload(
            _file(tmp, "big.png", png_bytes() + bytes(TEN_MB + 1 - len(png_bytes())))
        ),
        "image",
        "at most 10 MB",
    ),
    "2049x2049 for enhance": (
        lambda c, app, tmp: c.images.enhance(png_bytes(2049, 2049)),
        "image",
        "2049x2049 is larger than the 2048x2048",
    ),
    "a header that lies about its size": (
        lambda c, app, tmp: c.images.upload(_lying_png(100, 100)),
        "image",
        "corrupt PNG header",
    ),
    "a header that announces no pixels": (
        lambda c, app, tmp: c.images.upload(
            _file(tmp, "z.png", png_bytes()[:16] + bytes(8) + png_bytes()[24:])
        ),
        "image",
        "PNG header",
    ),
    "generateNum 0": (_generate(count=0), "count", "from 1 to 4, got 0"),
    "generateNum 5": (_generate(count=5), "count", "from 1 to 4, got 5"),
    "generateNum 0 in a request": (
        lambda c, app, tmp: c.images.generate(
            a1.GenerateRequest(app_id=app.id, version_id=app.version_id, generate_num=0)
        ),
        "generate_num",
        "from 1 to 4",
    ),
    "an unknown language": (
        lambda c, app, tmp: c.generate(app.id, language="xx_XX", image=png_bytes()),
        "language",
        "unsupported language 'xx_XX'",
    ),
    "a language that is not a string": (
        lambda c, app, tmp: c.apps.get(app.id, language=5),  # type: ignore[arg-type]
        "language",
        "expected a language code",
    ),
    "an unknown style": (_generate(style="Oil Paint"), "style", "unknown style 'Oil Paint'"),
    "a style that is not a string": (_generate(style=3), "style", "name or id"),
    "an unknown size": (_generate(aspect="5:4"), "size", "unknown aspect '5:4'"),
    "a size that is not a string": (_generate(aspect=3), "aspect", "like '16:9'"),
    "an unknown input": (
        _generate(prompt=None, prompts={"mood": "calm"}),
        "prompts",
        "no prompt input 'mood'",
    ),
    "an empty prompt": (_generate(prompt="   "), "prompt", "the prompt is empty"),
    "no prompt where one is required": (_generate(prompt=None), "prompt", "needs a prompt"),
    "a prompt that is not a string": (_generate(prompt=42), "prompt", "must be a string"),
    "a path that does not exist": (
        lambda c, app, tmp: c.images.upload(tmp / "missing.png"),
        "image",
        "no such file",
    ),
    "an ftp URL": (
        lambda c, app, tmp: c.images.upload("ftp://files.example/a.png"),
        "image",
        "unsupported URL scheme 'ftp'",
    ),
    "a file URL": (
        lambda c, app, tmp: c.images.upload("file:///etc/passwd"),
        "image",
        "unsupported URL scheme 'file'",
    ),
    "a data URL": (
        lambda c, app, tmp: c.images.upload("data:image/png;base64,iVBORw0KGgo="),
        "image",
        "unsupported URL scheme 'data'",
    ),
    "a javascript URL": (
        lambda c, app, tmp: c.images.upload("javascript:alert(1)"),
        "image",
        "unsupported URL scheme 'javascript'",
    ),
}


@pytest.mark.parametrize("case", list(CLIENT_SIDE))
async def test_bad_input_is_refused_before_any_request(
    client: a1.AsyncClient, emulator: Emulator, tmp_path: Path, case: str
) -> None:
    """
    Each bad input raises a ValidationError naming the field and the problem, and no
    request leaves the client.
    """
    call, field, reason = CLIENT_SIDE[case]
    async with client:
        app = await client.apps.get(apps.FORM)
        emulator.reset_journal()
        with pytest.raises(a1.ValidationError) as caught:
            await call(client, app, tmp_path)
    assert (field, []) == (caught.value.field, emulator.journal)
    assert reason in caught.value.reason


# Server-side hostility -------------------------------------------------------------------

UPLOAD_OK = {"imageUrl": "a.png", "path": "assets/p/"}
APP_OK = {"appInfo": {"id": "1", "versionId": "2"}}


async def _call(endpoint: str, handler: Callable[[httpx.Request], httpx.Response]) -> Any:
    """
    Call one endpoint against a crafted server, without retries.
    """
    request = a1.GenerateRequest(app_id="1", version_id="2")
    upload = a1.Upload("a.png", "assets/p/", width=8, height=8)
    async with a1.AsyncClient(
        api_key=API_KEY, transport=httpx.MockTransport(handler), max_retries=0
    ) as client:
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "apps": lambda: client.apps.get("1"),
            "upload": lambda: client.images.upload(png_bytes()),
            "generate": lambda: client.images.generate(request),
            "enhance": lambda: client.images.enhance(upload),
            "tasks": lambda: client.tasks.get("t"),
        }
        return await calls[endpoint]()


def _answer(body: bytes | str, status: int = 200) -> Callable[[httpx.Request], httpx.Response]:
    content = body.encode() if isinstance(body, str) else body
    return lambda request: httpx.Response(status, content=content)


def _envelope(data: object) -> str:
    return json.dumps({"code": 0, "msg": "success", "msg_cn": "成功", "data": data})


ENDPOINTS = ["apps", "upload", "generate", "enhance", "tasks"]
SPENDING = {"generate", "enhance"}


def _expected(endpoint: str) -> type[a1.A1ArtError]:
    # A success envelope with unusable data from generate or enhance may have been
    # charged: the SDK says so instead of calling it a plain failure.
    return a1.GenerationOutcomeUnknown if endpoint in SPENDING else a1.UnexpectedResponseError


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    "body",
    [
        '{"code": 0, "msg": "success"}',
        _envelope(None),
        _envelope([]),
        _envelope("data"),
        _envelope({"nested": json.loads("[" * 200 + "]" * 200)}),
    ],
    ids=["missing data", "null data", "a list", "a string", "nested junk"],
)
async def test_missing_or_wrong_data_is_an_sdk_error(endpoint: str, body: str) -> None:
    """
    A success envelope without the documented data raises UnexpectedResponseError, or
    GenerationOutcomeUnknown for generate and enhance.
    """
    with pytest.raises(_expected(endpoint)):
        await _call(endpoint, _answer(body))


async def _unexpected(
    endpoint: str, handler: Callable[[httpx.Request], httpx.Response]
) -> a1.UnexpectedResponseError:
    """
    The UnexpectedResponseError a call raises, itself or (for generate and enhance,
    whose outcome it leaves unknown) as the cause of GenerationOutcomeUnknown.
    """
    with pytest.raises(_expected(endpoint)) as caught:
        await _call(endpoint, handler)
    error = caught.value
    cause = error.cause if isinstance(error, a1.GenerationOutcomeUnknown) else error
    assert isinstance(cause, a1.UnexpectedResponseError)
    return cause


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_deeply_nested_json_is_an_sdk_error(endpoint: str) -> None:
    """
    JSON nested deeper than the parser's recursion limit is not an envelope.
    """
    body = '{"code": 0, "data": ' + "[" * 100_000 + "]" * 100_000 + "}"
    error = await _unexpected(endpoint, _answer(body))
    assert "not the API's JSON envelope" in error.reason


@pytest.mark.parametrize(
    ("endpoint", "data", "expected"),
    [
        ("apps", {"appInfo": {"id": 1803632078862147586, "versionId": "2"}}, None),
        ("apps", {"appInfo": {"id": "1", "versionId": "2", "name": 3.5}}, "expected str"),
        ("apps", {"appInfo": {"id": "1", "versionId": "2", "processTime": "soon"}}, "process"),
        ("apps", {"appInfo": {"id": "1", "versionId": "2", "processTime": 10**400}}, "process"),
        ("apps", {"appInfo": {"id": "1", "versionId": "2", "formArr": "cnet"}}, "forms"),
        ("apps", {"appInfo": {"id": "1", "versionId": "2", "cost": "two"}}, "cost"),
        ("upload", {"imageUrl": 7, "path": "p/"}, None),
        ("upload", {"imageUrl": ["a.png"], "path": "p/"}, "image_url"),
        ("tasks", {"state": "10", "images": []}, None),
        ("tasks", {"state": 10, "images": "https://cdn/x.png"}, "images"),
        ("tasks", {"state": 10, "images": {"0": "https://cdn/x.png"}}, "images"),
        ("tasks", {"state": 10, "images": [1, 2]}, None),
        ("tasks", {"state": 40}, "TaskState"),
        ("tasks", {"state": -1}, "TaskState"),
        ("tasks", {"state": "pending"}, "state"),
        ("tasks", {"state": True}, "state"),
        ("tasks", {"state": 10, "finishDate": 1718960296}, "finish_date"),
        ("tasks", {"state": 10, "finishDate": "yesterday"}, "finish_date"),
    ],
)
async def test_wrong_types_are_read_or_refused_clearly(
    endpoint: str, data: object, expected: str | None
) -> None:
    """
    A number where a string is documented (ids) is read as its string; anything else of
    the wrong type raises UnexpectedResponseError naming the field.
    """
    if expected is None:
        assert await _call(endpoint, _answer(_envelope(data))) is not None
        return
    with pytest.raises(a1.UnexpectedResponseError, match=expected):
        await _call(endpoint, _answer(_envelope(data)))


@pytest.mark.parametrize("task_id", [None, 12.5, True, "", ["a"], {"id": "a"}])
@pytest.mark.parametrize("endpoint", sorted(SPENDING))
async def test_a_success_without_a_usable_task_id_is_outcome_unknown(
    endpoint: str, task_id: object
) -> None:
    """
    Generate and enhance answered "success" without a usable taskId: credits may have
    been spent, so GenerationOutcomeUnknown carries the request.
    """
    with pytest.raises(a1.GenerationOutcomeUnknown) as caught:
        await _call(endpoint, _answer(_envelope({"taskId": task_id})))
    assert isinstance(caught.value.cause, a1.UnexpectedResponseError)


@pytest.mark.parametrize("code", [0, 20000, 10001, 999999, -1])
async def test_an_envelope_with_an_error_status_is_an_sdk_error(code: int) -> None:
    """
    Envelopes of every kind under HTTP 500 raise the SDK's errors, never anything else.
    """
    body = json.dumps({"code": code, "msg": "x", "msg_cn": "x", "data": None})
    with pytest.raises(a1.A1ArtError):
        await _call("tasks", _answer(body, status=500))


class _Endless(httpx.AsyncByteStream):
    """
    A body that never ends on its own (until the client closes it, like a socket),
    counting what it produced.
    """

    def __init__(self, head: bytes = b"", chunk: bytes = b" " * 65536) -> None:
        self.head = head
        self.chunk = chunk
        self.produced = 0
        self.closed = False

    def __aiter__(self) -> _Endless:
        return self

    async def __anext__(self) -> bytes:
        await anyio.lowlevel.checkpoint()
        if self.closed:
            raise StopAsyncIteration
        chunk, self.head = (self.head or self.chunk), b""
        self.produced += len(chunk)
        return chunk

    async def aclose(self) -> None:
        self.closed = True


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_an_endless_json_body_is_cut_off(endpoint: str) -> None:
    """
    A body that never ends is read up to the envelope limit (4 MiB) and refused.
    """
    stream = _Endless(head=b'{"code": 0, "data": "')
    error = await _unexpected(endpoint, lambda request: httpx.Response(200, stream=stream))
    assert "too large" in error.reason
    assert stream.produced <= 4 * 1024 * 1024 + 2 * 65536


async def test_a_huge_json_body_costs_bounded_memory() -> None:
    """
    Reading a 64 MiB answer to a task query allocates a few megabytes, not 64.
    """
    stream = _Endless(head=b'{"code": 0, "data": {"images": ["')
    limit = 64 * 1024 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(a1.UnexpectedResponseError):
            await _call("tasks", lambda request: httpx.Response(200, stream=stream))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024 < limit


@pytest.mark.parametrize("announced", [None, "1000"])
async def test_endless_or_longer_than_announced_downloads_fail_clearly(
    tmp_path: Path, announced: str | None
) -> None:
    """
    A download past its Content-Length, or past the size cap when none is announced,
    raises DownloadError, keeps nothing on disk and reads a bounded amount.
    """
    stream = _Endless(head=png_bytes())
    headers = {"content-type": "image/png"}
    if announced is not None:
        headers["content-length"] = announced

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers, stream=stream)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(a1.DownloadError) as caught:
            await download(http, "https://cdn.example/r.png", tmp_path, "r", max_bytes=2**20)
    assert [] == list(tmp_path.iterdir())
    assert stream.produced <= 2**20 + 2 * 65536
    assert ("1000 bytes announced" if announced else "larger than 1048576") in str(caught.value)
