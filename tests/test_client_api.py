"""
Every endpoint through AsyncClient against the in-process emulator, in virtual time.
"""

from __future__ import annotations

import io
import pydoc
from pathlib import Path
from typing import Any

import anyio
import pytest

import a1art_async as a1
from a1art_async.testing import Emulator, apps

from ._images import GIF, jpeg, png
from .conftest import API_KEY


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


pytestmark = pytest.mark.anyio


def _calls(emulator: Emulator, endpoint: str) -> int:
    return sum(1 for entry in emulator.journal if entry.endpoint == endpoint)


async def _form_request(client: a1.AsyncClient, **overrides: Any) -> a1.GenerateRequest:
    app = await client.apps.get(apps.FORM)
    upload = await client.images.upload(png(64, 64))
    description = app.forms_of(a1.FormType.DESCRIPTION)[0]
    fields: dict[str, Any] = {
        "app_id": app.id,
        "version_id": app.version_id,
        "generate_num": 2,
        "cnet": [a1.CnetPart.from_upload(app.forms_of(a1.FormType.CNET)[0].id, upload)],
        "description": [a1.DescriptionPart(description.inputs[0].id, "black devon rex cat")],
        "style_id": app.styles[0].id,
        "size": "16:9",
    }
    fields.update(overrides)
    return a1.GenerateRequest(**fields)


async def test_app_details_read_into_models(client: a1.AsyncClient) -> None:
    """
    The documented example app reads with its forms, inputs, tags, styles and timing.
    """
    async with client:
        app = await client.apps.get(apps.FORM, language="en_US")
    assert apps.FORM == app.id
    assert "1803632078866341890" == app.version_id
    assert {a1.FormType.CNET, a1.FormType.DESCRIPTION, a1.FormType.STYLE, a1.FormType.SIZE} == {
        form.type for form in app.forms
    }
    assert "High Quality Anmie" in [style.name for style in app.styles]
    assert 22.0 == app.process_time
    assert 2 == app.cost


async def test_every_seeded_app_kind(client: a1.AsyncClient) -> None:
    """
    Node and video apps carry their cost; the group photo app has positioned cnet forms.
    """
    async with client:
        node = await client.apps.get(apps.NODE)
        video = await client.apps.get(apps.VIDEO)
        group = await client.apps.get(apps.GROUP_PHOTO)
        text = await client.apps.get(apps.TEXT)
    assert (2, 10) == (node.cost, video.cost)
    assert group.is_group_photo
    assert ["0", "1"] == [form.position for form in group.forms_of(a1.FormType.CNET)]
    assert () == text.forms_of(a1.FormType.CNET)


@pytest.mark.parametrize(
    ("app_id", "error"),
    [
        (apps.NO_API, a1.AppNotAPIEnabledError),
        (apps.FOREIGN_UNPUBLISHED, a1.AppNotOwnedError),
        ("1234567890123456789", a1.AppNotFoundError),
    ],
)
async def test_app_errors(client: a1.AsyncClient, app_id: str, error: type[a1.APIError]) -> None:
    """
    Apps that cannot be used raise their own typed error with both messages.
    """
    async with client:
        with pytest.raises(error) as caught:
            await client.apps.get(app_id)
    assert caught.value.msg
    assert caught.value.msg_cn


async def test_language_is_checked_before_the_request(
    client: a1.AsyncClient, emulator: Emulator
) -> None:
    """
    An unsupported language is refused locally; a supported one is sent as documented.
    """
    async with client:
        with pytest.raises(a1.ValidationError, match="language"):
            await client.apps.get(apps.FORM, language="fr_FR")
        assert 0 == len(emulator.journal)
        await client.apps.get(apps.FORM, language=a1.Language.ZH_CN)
    assert "language=zh_CN" == emulator.journal[-1].query


async def test_upload_from_path_bytes_file_and_url(
    client: a1.AsyncClient, emulator: Emulator, tmp_path: Path
) -> None:
    """
    Uploads accept a path, bytes, a binary file or a URL, and return the stored image.
    """
    path = tmp_path / "cat.jpg"
    path.write_bytes(jpeg(300, 200))
    emulator.register_remote_image("https://images.example/dog.png", png(10, 10), "image/png")
    async with client:
        from_path = await client.images.upload(path)
        from_bytes = await client.images.upload(png(20, 30))
        from_file = await client.images.upload(io.BytesIO(png(4, 4)))
        from_url = await client.images.upload("https://images.example/dog.png")
    assert (300, 200) == (from_path.width, from_path.height)
    assert (20, 30) == (from_bytes.width, from_bytes.height)
    assert 4 == from_file.width
    assert (None, None) == (from_url.width, from_url.height)
    assert from_path.image_url.endswith(".jpg")
    assert from_bytes.path.startswith("assets/")
    assert 4 == _calls(emulator, "upload")


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("https://images.example/anim.gif", a1.UnsupportedSuffixError),
        ("https://images.example/missing.png", a1.FileError),
        ("https://images.example/fake.png", a1.UnsupportedImageFormatError),
    ],
)
async def test_server_side_upload_errors(
    client: a1.AsyncClient, emulator: Emulator, url: str, error: type[a1.APIError]
) -> None:
    """
    What only the server can check (a URL's content) comes back as typed file errors.
    """
    emulator.register_remote_image("https://images.example/fake.png", GIF, "image/gif")
    async with client:
        with pytest.raises(error):
            await client.images.upload(url)


async def test_bad_local_images_never_reach_the_server(
    client: a1.AsyncClient, emulator: Emulator
) -> None:
    """
    Non-images, GIFs and oversized files are refused without a request.
    """
    async with client:
        for bad in (b"not an image", GIF, png() + bytes(10 * 1024 * 1024)):
            with pytest.raises(a1.ValidationError):
                await client.images.upload(bad)
    assert 0 == len(emulator.journal)


async def test_generate_then_query_until_done(client: a1.AsyncClient, emulator: Emulator) -> None:
    """
    A generation returns a task id, charges 1 credit per image, and completes with one
    URL per image on the file host.
    """
    async with client:
        request = await _form_request(client)
        task_id = await client.images.generate(request)
        first = await client.tasks.get(task_id)
        await anyio.sleep(emulator.complete_at(task_id) - anyio.current_time() + 0.01)
        done = await client.tasks.get(task_id)
    assert first.state in (a1.TaskState.SUBMITTED, a1.TaskState.RUNNING)
    assert a1.TaskState.COMPLETED is done.state
    assert task_id == done.task_id
    assert 2 == len(done.images)
    assert all(url.startswith(emulator.cdn_origin) for url in done.images)
    assert (1, 2, 998) == (emulator.generate_calls(), emulator.charged(), emulator.balance(API_KEY))


async def test_outdated_version_raises(client: a1.AsyncClient, emulator: Emulator) -> None:
    """
    After the app is republished, the old versionId raises AppVersionOutdatedError and
    nothing is charged.
    """
    async with client:
        request = await _form_request(client)
        emulator.bump_version(apps.FORM)
        with pytest.raises(a1.AppVersionOutdatedError):
            await client.images.generate(request)
    assert 0 == emulator.charged()


async def test_server_side_generate_rules(client: a1.AsyncClient, emulator: Emulator) -> None:
    """
    Rules only the server knows (node apps generate one at a time, balance, missing
    forms) raise their typed errors.
    """
    async with client:
        node = await client.apps.get(apps.NODE)
        upload = await client.images.upload(png())
        cnet = node.forms_of(a1.FormType.CNET)[0]
        described = node.forms_of(a1.FormType.DESCRIPTION)[0]
        prompt_id = described.inputs[0].id if described.inputs else described.id
        parts: dict[str, Any] = {
            "app_id": node.id,
            "version_id": node.version_id,
            "cnet": [a1.CnetPart.from_upload(cnet.id, upload)],
            "description": [a1.DescriptionPart(prompt_id, "a cat")],
        }
        with pytest.raises(a1.QuantityError):
            await client.images.generate(a1.GenerateRequest(**parts, generate_num=2))
        with pytest.raises(a1.InvalidParamsError):
            await client.images.generate(a1.GenerateRequest(**{**parts, "description": ()}))
        emulator.set_balance(API_KEY, 1)
        with pytest.raises(a1.BalanceInsufficientError):
            await client.images.generate(a1.GenerateRequest(**parts))
        emulator.set_balance(API_KEY, 100)
        vip = await client.apps.get(apps.VIP)
        with pytest.raises(a1.VIPRequiredError):
            await client.images.generate(
                a1.GenerateRequest(app_id=vip.id, version_id=vip.version_id)
            )
    assert 0 == emulator.charged()


async def test_enhance_charges_three_and_checks_dimensions_first(
    client: a1.AsyncClient, emulator: Emulator
) -> None:
    """
    Enhance costs 3 credits; an image over 2048x2048 is refused before any request.
    """
    async with client:
        task_id = await client.images.enhance(png(2048, 2048))
        assert task_id
        before = len(emulator.journal)
        with pytest.raises(a1.ValidationError, match="2048"):
            await client.images.enhance(png(2049, 10))
        big = await client.images.upload(png(10, 2049))
        with pytest.raises(a1.ValidationError, match="2048"):
            await client.images.enhance(big)
    assert 3 == emulator.charged()
    assert ["upload"] == [entry.endpoint for entry in emulator.journal[before:]]


async def test_unknown_task_is_invalid_params(client: a1.AsyncClient) -> None:
    """
    A task id that is not this key's answers 10001 as InvalidParamsError.
    """
    async with client:
        with pytest.raises(a1.InvalidParamsError):
            await client.tasks.get("0" * 32)
        with pytest.raises(a1.ValidationError, match="task_id"):
            await client.tasks.get(" ")


async def test_region_cn_sends_section_on_task_queries(emulator: Emulator) -> None:
    """
    region="cn" uses the documented China domain and sends `section: cn` on task
    queries only.
    """
    assert "https://a1art.xiaopiu.com" == a1.AsyncClient(api_key=API_KEY, region="cn").origin
    client = a1.AsyncClient(
        api_key=API_KEY, region="cn", base_url=emulator.api_origin, transport=emulator.transport()
    )
    async with client:
        with pytest.raises(a1.InvalidParamsError):
            await client.tasks.get("f" * 32)
        await client.apps.get(apps.FORM)
    tasks, details = emulator.journal
    assert "cn" == tasks.headers.get("section")
    assert "section" not in details.headers


async def test_invalid_key_is_an_authentication_error(emulator: Emulator) -> None:
    """
    An unknown key raises AuthenticationError (10411) and is not retried.
    """
    async with a1.AsyncClient(api_key="wrong", transport=emulator.transport()) as client:
        with pytest.raises(a1.AuthenticationError) as caught:
            await client.apps.get(apps.FORM)
    assert 10411 == caught.value.code
    assert 1 == len(emulator.journal)


def test_missing_key_is_refused_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    """
    Without api_key= or A1ART_API_KEY the client cannot be built.
    """
    monkeypatch.delenv("A1ART_API_KEY", raising=False)
    with pytest.raises(a1.ValidationError, match="api_key"):
        a1.AsyncClient()


async def test_key_from_the_environment(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    A1ART_API_KEY is used when no key is passed.
    """
    monkeypatch.setenv("A1ART_API_KEY", API_KEY)
    async with a1.AsyncClient(transport=emulator.transport()) as client:
        await client.apps.get(apps.FORM)
    assert API_KEY == emulator.journal[0].key


async def test_aclose_without_context_manager(emulator: Emulator) -> None:
    """
    A client used without `async with` works and is closed by aclose().
    """
    client = a1.AsyncClient(api_key=API_KEY, transport=emulator.transport())
    await client.apps.get(apps.FORM)
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await client.apps.get(apps.FORM)


def test_help_shows_the_resources() -> None:
    """
    help(AsyncClient) lists apps, images and tasks with what each is for.
    """
    text = pydoc.render_doc(a1.AsyncClient, renderer=pydoc.plaintext)
    for name, words in (("apps", "App details"), ("images", "Uploads"), ("tasks", "Task status")):
        assert name in text
        assert words in text
