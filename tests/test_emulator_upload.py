"""
``POST /images/upload``: accepted images and every documented refusal.
"""

from __future__ import annotations

import re
import struct

import httpx
import pytest

from a1art_async.testing import Emulator, apps, jpeg_bytes, mp4_bytes, png_bytes

from .test_emulator_support import (
    API,
    KEY,
    code_of,
    generate,
    plain_client,
    text_form,
    valid_body,
    wait_until_complete,
)

UPLOAD = f"{API}/images/upload"
TEN_MIB = 10 * 1024 * 1024
GIF = b"GIF89a" + struct.pack("<HH", 4, 4) + b"\x00" * 16
WEBP = b"RIFF" + struct.pack("<I", 30) + b"WEBPVP8 " + b"\x00" * 22
BMP = b"BM" + b"\x00" * 60
UUID4_PNG = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.png"


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


async def _upload_file(emu: Emulator, name: str, data: bytes) -> httpx.Response:
    async with plain_client(emu) as c:
        return await c.post(UPLOAD, files={"file": (name, data)})


@pytest.mark.anyio
async def test_png_upload_returns_uuid_name_and_key_path() -> None:
    """
    A PNG upload answers a ``<uuid4>.png`` name and a per-key path that hides the key.
    """
    emu = Emulator()
    response = await _upload_file(emu, "pet.png", png_bytes(80, 60))
    data = response.json()["data"]
    assert 0 == code_of(response)
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.png",
        data["imageUrl"],
    )
    assert re.fullmatch(r"assets/application/apikey_[0-9a-f]{32}/form/", data["path"])
    assert KEY not in data["path"]
    record = emu.uploads[data["imageUrl"]]
    assert (KEY, 80, 60, "file") == (record.key, record.width, record.height, record.source)


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["pet.jpg", "pet.jpeg", "PET.JPG", "pet.JpEg"])
async def test_jpeg_upload_answers_jpg_name(name: str) -> None:
    """
    JPEG files with any casing of .jpg/.jpeg are accepted and named ``.jpg``.
    """
    response = await _upload_file(Emulator(), name, jpeg_bytes(30, 20))
    assert 0 == code_of(response)
    assert response.json()["data"]["imageUrl"].endswith(".jpg")


@pytest.mark.anyio
async def test_path_is_stable_per_key_and_differs_between_keys() -> None:
    """
    Two uploads by one key share a path; another key gets another path.
    """
    emu = Emulator()
    emu.add_key("other-key")
    async with plain_client(emu) as c, plain_client(emu, key="other-key") as other:
        first = (await c.post(UPLOAD, files={"file": ("a.png", png_bytes())})).json()["data"]
        second = (await c.post(UPLOAD, files={"file": ("b.png", png_bytes())})).json()["data"]
        third = (await other.post(UPLOAD, files={"file": ("c.png", png_bytes())})).json()["data"]
    assert first["path"] == second["path"]
    assert first["imageUrl"] != second["imageUrl"]
    assert first["path"] != third["path"]


@pytest.mark.anyio
async def test_large_dimensions_are_accepted_on_upload() -> None:
    """
    Uploads may exceed 2048x2048 pixels; only enhancing refuses them.
    """
    response = await _upload_file(Emulator(), "wide.png", png_bytes(3000, 10))
    assert 0 == code_of(response)


@pytest.mark.anyio
async def test_exactly_ten_mib_is_accepted() -> None:
    """
    A file of exactly 10 MiB is within the limit.
    """
    image = png_bytes()
    response = await _upload_file(Emulator(), "big.png", image + bytes(TEN_MIB - len(image)))
    assert 0 == code_of(response)


@pytest.mark.anyio
async def test_missing_image_is_400000() -> None:
    """
    A form with neither ``file`` nor ``imageUrl`` answers 400000.
    """
    async with plain_client(Emulator()) as c:
        response = await c.post(UPLOAD, **text_form(("note", "no image")))
        empty_url = await c.post(UPLOAD, **text_form(("imageUrl", "  ")))
    assert 400000 == code_of(response)
    assert 400000 == code_of(empty_url)


@pytest.mark.anyio
async def test_non_multipart_body_is_400000() -> None:
    """
    A JSON body instead of a form has no image file: 400000.
    """
    async with plain_client(Emulator()) as c:
        response = await c.post(UPLOAD, json={"imageUrl": "https://x/y.png"})
    assert 400000 == code_of(response)


@pytest.mark.anyio
async def test_two_files_are_400001() -> None:
    """
    Two file parts answer 400001 "Only one image can be uploaded at a time".
    """
    files = [("file", ("a.png", png_bytes())), ("file", ("b.png", png_bytes()))]
    async with plain_client(Emulator()) as c:
        response = await c.post(UPLOAD, files=files)
    assert 400001 == code_of(response)


@pytest.mark.anyio
async def test_two_image_urls_are_400001() -> None:
    """
    Two ``imageUrl`` fields without a file also answer 400001.
    """
    async with plain_client(Emulator()) as c:
        form = text_form(("imageUrl", "https://x/a.png"), ("imageUrl", "https://x/b.png"))
        response = await c.post(UPLOAD, **form)
    assert 400001 == code_of(response)


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["pet.gif", "pet", "pet.png.exe", "pet.webp", ""])
async def test_file_name_without_image_suffix_is_10002(name: str) -> None:
    """
    A file whose name does not end in png/jpg/jpeg answers 10002, whatever its content.
    """
    response = await _upload_file(Emulator(), name, png_bytes())
    assert 10002 == code_of(response)


@pytest.mark.anyio
async def test_over_ten_mib_is_400003() -> None:
    """
    One byte over 10 MiB answers 400003, checked before the content is looked at.
    """
    response = await _upload_file(Emulator(), "big.png", b"not even an image" * (TEN_MIB // 17 + 1))
    assert 400003 == code_of(response)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(png_bytes()[:20], id="truncated-png"),
        pytest.param(png_bytes()[:29] + b"\x00\x00\x00\x00" + png_bytes()[33:], id="bad-crc"),
        pytest.param(b"\xff\xd8\xff\xe0" + b"\x00" * 40, id="jpeg-without-frame"),
        pytest.param(png_bytes()[:16] + bytes(8) + png_bytes()[24:], id="zero-size"),
    ],
)
async def test_unreadable_png_or_jpeg_is_400004(data: bytes) -> None:
    """
    PNG/JPEG magic with an unreadable, corrupt or empty header (or no bytes) answers 400004.
    """
    assert 400004 == code_of(await _upload_file(Emulator(), "x.png", data))


@pytest.mark.anyio
@pytest.mark.parametrize(
    "data",
    [b"hello, this is text", b"%PDF-1.7\n", mp4_bytes()],
    ids=["text", "pdf", "mp4"],
)
async def test_non_image_is_400002(data: bytes) -> None:
    """
    Content that is no image at all answers 400002, even named .png.
    """
    assert 400002 == code_of(await _upload_file(Emulator(), "x.png", data))


@pytest.mark.anyio
@pytest.mark.parametrize("data", [GIF, WEBP, BMP], ids=["gif", "webp", "bmp"])
async def test_other_image_format_is_400005(data: bytes) -> None:
    """
    A GIF, WebP or BMP named .png answers 400005 "This image format is not supported".
    """
    assert 400005 == code_of(await _upload_file(Emulator(), "x.png", data))


@pytest.mark.anyio
async def test_registered_remote_image_is_fetched() -> None:
    """
    An ``imageUrl`` registered with the emulator is fetched and stored like a file.
    """
    emu = Emulator()
    url = "https://images.example/cat.jpeg?size=large"
    emu.register_remote_image(url, jpeg_bytes(40, 30), "image/jpeg")
    async with plain_client(emu) as c:
        response = await c.post(UPLOAD, **text_form(("imageUrl", url)))
    image_url = response.json()["data"]["imageUrl"]
    assert 0 == code_of(response)
    assert (url, 40, 30) == (
        emu.uploads[image_url].source,
        emu.uploads[image_url].width,
        emu.uploads[image_url].height,
    )


@pytest.mark.anyio
async def test_file_wins_over_image_url() -> None:
    """
    Sending both a file and an ``imageUrl`` (as the docs' example does) uses the file.
    """
    emu = Emulator()
    async with plain_client(emu) as c:
        response = await c.post(
            UPLOAD,
            data={"imageUrl": "https://unreachable.example/x.jpeg"},
            files={"file": ("pet.png", png_bytes(10, 12))},
        )
    assert 0 == code_of(response)
    assert "file" == emu.uploads[response.json()["data"]["imageUrl"]].source


@pytest.mark.anyio
@pytest.mark.parametrize(
    "url", ["https://images.example/cat.gif", "https://images.example/cat", "not a url"]
)
async def test_image_url_without_image_suffix_is_20101(url: str) -> None:
    """
    An ``imageUrl`` whose path does not end in png/jpg/jpeg answers 20101.
    """
    emu = Emulator()
    emu.register_remote_image(url, png_bytes())
    async with plain_client(emu) as c:
        response = await c.post(UPLOAD, **text_form(("imageUrl", url)))
    assert 20101 == code_of(response)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "url",
    [
        "https://images.example/never-registered.png",
        "https://cdn.a1.art.emulator/results/0123456789abcdef0123456789abcdef/0.png",
        "https://cdn.a1.art.emulator:99999/x.png",
    ],
)
async def test_unfetchable_image_url_is_20100(url: str) -> None:
    """
    An ``imageUrl`` the emulator cannot fetch answers 20100 "file error".
    """
    async with plain_client(Emulator()) as c:
        response = await c.post(UPLOAD, **text_form(("imageUrl", url)))
    assert 20100 == code_of(response)


@pytest.mark.anyio
async def test_remote_content_gets_the_same_checks() -> None:
    """
    A fetched ``imageUrl`` that is not an image answers 400002, like a file would.
    """
    emu = Emulator()
    emu.register_remote_image("https://images.example/fake.png", b"<html>nope</html>", "text/html")
    async with plain_client(emu) as c:
        response = await c.post(
            UPLOAD, **text_form(("imageUrl", "https://images.example/fake.png"))
        )
    assert 400002 == code_of(response)


@pytest.mark.anyio
async def test_own_cdn_files_can_be_uploaded_by_url() -> None:
    """
    A finished task's result URL and a style cover are fetchable ``imageUrl`` values.
    """
    emu = Emulator(time_scale=0.01)
    async with plain_client(emu) as c:
        task_id = (await generate(c, await valid_body(c, apps.FORM))).json()["data"]["taskId"]
        cover = (await c.get(f"{API}/apps/{apps.FORM}")).json()["data"]["appInfo"]["styleArr"]
        await wait_until_complete(emu, task_id)
        result_url = emu.tasks[task_id].images[0]
        by_result = await c.post(UPLOAD, **text_form(("imageUrl", result_url)))
        by_cover = await c.post(UPLOAD, **text_form(("imageUrl", cover[0]["image"])))
    assert (0, 0) == (code_of(by_result), code_of(by_cover))
