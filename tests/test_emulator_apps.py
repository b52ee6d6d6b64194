"""
App details, authentication and routing of the emulated API.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from a1art_async.testing import Emulator, apps

from .test_emulator_support import API, app_info, code_of, plain_client

LANGUAGES = [
    "zh_CN", "en_US", "zh_TW", "ru_RU", "ja_JP", "pt_BR", "es_MX",
    "de_DE", "id_ID", "tr_TR", "vi_VN", "th_TH", "ms_MY",
]  # fmt: skip


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


@pytest.mark.anyio
async def test_form_app_matches_the_documented_example() -> None:
    """
    The FORM app answers exactly the structure and values of the docs' example.
    """
    emu = Emulator()
    async with plain_client(emu) as c:
        response = await c.get(f"{API}/apps/{apps.FORM}")
    payload = response.json()
    info = payload["data"]["appInfo"]
    assert 200 == response.status_code
    assert (0, "success", "成功") == (payload["code"], payload["msg"], payload["msg_cn"])
    assert [
        "id", "versionId", "name", "formArr", "styleArr", "updateDate", "createDate",
        "processTime", "cost",
    ] == list(info)  # fmt: skip
    assert 2 == info["cost"]
    assert "1803632078862147586" == info["id"]
    assert "1803632078866341890" == info["versionId"]
    assert "Crazy Pet" == info["name"]
    assert "22" == info["processTime"]
    assert "2024-06-20 19:51:55.0" == info["updateDate"]
    assert "2024-06-20 11:32:52.0" == info["createDate"]
    assert {
        "id": "1705408562085",
        "type": "cnet",
        "title": "Photo of your pet",
        "position": "0",
    } == info["formArr"][0]
    assert {
        "id": "1705403286130",
        "type": "description",
        "title": "Description",
        "inputs": [
            {
                "id": "description_1705463790428_variant1",
                "title": "Color and breed, such as: black devon rex cat",
                "tags": ["Obsidian_black", "Porcelain_white"],
            }
        ],
    } == info["formArr"][1]
    assert [
        {"id": "1705398050190", "type": "style", "title": "Style"},
        {"id": "1705403291444", "type": "size", "title": "Size"},
    ] == info["formArr"][2:]
    assert {
        "id": "1766068889598496769",
        "name": "High Quality Anmie",
        "image": "https://cdn.a1.art.emulator/assets/style/cover_image/"
        "6d7358e9-ddae-4253-bcc9-d4f54ebc25d5.png",
    } == info["styleArr"][0]


def _types(info: dict[str, Any]) -> list[str]:
    return [form["type"] for form in info["formArr"]]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("app_id", "types", "cost", "process_time"),
    [
        (apps.FORM, ["cnet", "description", "style", "size"], 2, "22"),
        (apps.TEXT, ["description", "style", "size"], None, "18"),
        (apps.NODE, ["cnet", "description"], 2, "35"),
        (apps.GROUP_PHOTO, ["cnet", "cnet", "style", "size"], None, "40"),
        (apps.VIDEO, ["cnet", "description"], 10, "60"),
        (apps.VIP, ["cnet", "style", "size"], None, "30"),
    ],
)
async def test_each_readable_app_has_its_forms_and_cost(
    app_id: str, types: list[str], cost: int | None, process_time: str
) -> None:
    """
    Every readable seeded app lists its form types in order, and ``cost`` where it has one.
    """
    emu = Emulator()
    async with plain_client(emu) as c:
        info = await app_info(c, app_id)
    assert types == _types(info)
    assert cost == info.get("cost")
    assert process_time == info["processTime"]
    assert 19 == len(info["id"])
    assert info["id"].isdigit()
    for form in info["formArr"]:
        assert ("position" in form) == (form["type"] == "cnet")
        assert "inputs" not in form or form["type"] == "description"
    styles = info["styleArr"]
    assert 2 <= len(styles) <= 4
    assert all(s["image"].startswith(emu.cdn_origin + "/") for s in styles)


@pytest.mark.anyio
async def test_group_photo_cnet_forms_carry_positions_zero_and_one() -> None:
    """
    The group photo app's two cnet forms are at positions "0" and "1".
    """
    async with plain_client(Emulator()) as c:
        info = await app_info(c, apps.GROUP_PHOTO)
    assert ["0", "1"] == [f["position"] for f in info["formArr"] if f["type"] == "cnet"]


@pytest.mark.anyio
async def test_text_app_description_has_no_inputs() -> None:
    """
    The text app's description form has no inputs, so its own id takes the value.
    """
    async with plain_client(Emulator()) as c:
        info = await app_info(c, apps.TEXT)
    assert "inputs" not in info["formArr"][0]


@pytest.mark.anyio
async def test_zh_cn_localizes_titles_and_names() -> None:
    """
    ``language=zh_CN`` translates the app name, form and input titles and style names.
    """
    async with plain_client(Emulator()) as c:
        response = await c.get(f"{API}/apps/{apps.FORM}", params={"language": "zh_CN"})
    info = response.json()["data"]["appInfo"]
    assert "疯狂宠物" == info["name"]
    assert ["你的宠物照片", "描述", "风格", "尺寸"] == [f["title"] for f in info["formArr"]]
    assert "高质量动漫" == info["styleArr"][0]["name"]
    assert info["formArr"][1]["inputs"][0]["title"].startswith("颜色和品种")


@pytest.mark.anyio
@pytest.mark.parametrize("language", LANGUAGES)
async def test_every_documented_language_is_accepted(language: str) -> None:
    """
    All 13 documented languages answer code 0; untranslated ones fall back to en_US.
    """
    async with plain_client(Emulator()) as c:
        response = await c.get(f"{API}/apps/{apps.FORM}", params={"language": language})
    assert 0 == code_of(response)
    expected = "疯狂宠物" if language == "zh_CN" else "Crazy Pet"
    assert expected == response.json()["data"]["appInfo"]["name"]


@pytest.mark.anyio
@pytest.mark.parametrize("language", ["fr_FR", "en", "zh-CN", "EN_US"])
async def test_undocumented_language_is_invalid_params(language: str) -> None:
    """
    A language outside the documented 13 answers 10001.
    """
    async with plain_client(Emulator()) as c:
        response = await c.get(f"{API}/apps/{apps.FORM}", params={"language": language})
    assert 10001 == code_of(response)


@pytest.mark.anyio
async def test_empty_language_counts_as_absent() -> None:
    """
    ``language=`` with no value is treated as not sent.
    """
    async with plain_client(Emulator()) as c:
        response = await c.get(f"{API}/apps/{apps.FORM}?language=")
    assert 0 == code_of(response)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("app_id", "code", "msg"),
    [
        ("1234567890123456789", 324012, "This app does not exist"),
        (apps.NO_API, 324010, "This app does not support API access"),
        (apps.FOREIGN_UNPUBLISHED, 324018, "You can only use API of your built apps."),
    ],
)
async def test_unreadable_apps_answer_their_codes(app_id: str, code: int, msg: str) -> None:
    """
    Unknown, API-less and foreign unpublished apps answer 324012, 324010, 324018.
    """
    async with plain_client(Emulator()) as c:
        response = await c.get(f"{API}/apps/{app_id}")
    assert 200 == response.status_code
    assert code == code_of(response)
    assert msg == response.json()["msg"]


@pytest.mark.anyio
async def test_vip_app_details_are_readable_without_vip() -> None:
    """
    The VIP app's details are public; VIP is only checked when generating.
    """
    async with plain_client(Emulator(vip=False)) as c:
        response = await c.get(f"{API}/apps/{apps.VIP}")
    assert 0 == code_of(response)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/apps/{apps.FORM}"),
        ("POST", "/images/upload"),
        ("POST", "/images/generate"),
        ("POST", "/images/optimize"),
        ("GET", "/tasks/0123456789abcdef0123456789abcdef"),
    ],
)
async def test_missing_api_key_is_10410_on_every_endpoint(method: str, path: str) -> None:
    """
    Without an ``apiKey`` header every endpoint answers 10410 "Missing API key".
    """
    async with plain_client(Emulator(), key=None) as c:
        response = await c.request(method, API + path)
    assert 10410 == code_of(response)
    assert ("Missing API key", "缺少API key") == (response.json()["msg"], response.json()["msg_cn"])


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/apps/{apps.FORM}"),
        ("POST", "/images/upload"),
        ("POST", "/images/generate"),
        ("POST", "/images/optimize"),
        ("GET", "/tasks/0123456789abcdef0123456789abcdef"),
    ],
)
async def test_unknown_api_key_is_10411_on_every_endpoint(method: str, path: str) -> None:
    """
    An ``apiKey`` the emulator does not know answers 10411 "Invalid API key".
    """
    async with plain_client(Emulator(), key="stolen") as c:
        response = await c.request(method, API + path)
    assert 10411 == code_of(response)


@pytest.mark.anyio
async def test_empty_api_key_counts_as_missing() -> None:
    """
    An empty ``apiKey`` header is as good as none: 10410.
    """
    async with plain_client(Emulator(), key="") as c:
        response = await c.get(f"{API}/apps/{apps.FORM}")
    assert 10410 == code_of(response)


@pytest.mark.anyio
async def test_api_key_header_name_is_case_insensitive() -> None:
    """
    HTTP header names are case-insensitive, so ``APIKEY`` authenticates too.
    """
    async with plain_client(Emulator(), key=None, headers={"APIKEY": "test-key"}) as c:
        response = await c.get(f"{API}/apps/{apps.FORM}")
    assert 0 == code_of(response)


@pytest.mark.anyio
async def test_unknown_path_is_a_json_404_without_envelope() -> None:
    """
    A path the API does not have answers HTTP 404 with a JSON error body, not an envelope.
    """
    emu = Emulator()
    async with plain_client(emu) as c:
        response = await c.get(f"{API}/nothing/here")
    assert 404 == response.status_code
    assert {"status": 404, "error": "Not Found", "path": f"{API}/nothing/here"} == {
        k: v for k, v in response.json().items() if k != "timestamp"
    }
    assert ("other", "not_found", None) == (
        emu.journal[-1].endpoint,
        emu.journal[-1].outcome,
        emu.journal[-1].code,
    )


@pytest.mark.anyio
async def test_wrong_method_is_405() -> None:
    """
    A known path with the wrong method answers HTTP 405.
    """
    async with plain_client(Emulator()) as c:
        get_generate = await c.get(f"{API}/images/generate")
        post_apps = await c.post(f"{API}/apps/{apps.FORM}")
    assert (405, 405) == (get_generate.status_code, post_apps.status_code)


@pytest.mark.anyio
async def test_other_origins_answer_404_json() -> None:
    """
    The transport answers an origin that is neither API nor CDN with a JSON 404.
    """
    emu = Emulator()
    async with plain_client(emu) as c:
        response = await c.get("https://elsewhere.example/open-api/v1/a1/apps/1")
    assert 404 == response.status_code
    assert "Not Found" == response.json()["error"]
    assert "https://elsewhere.example" == emu.journal[-1].origin


@pytest.mark.anyio
async def test_responses_are_utf8_json() -> None:
    """
    Answers are JSON in UTF-8 with the Chinese message unescaped.
    """
    async with plain_client(Emulator()) as c:
        response = await c.get(f"{API}/apps/{apps.FORM}")
    assert response.headers["content-type"].startswith("application/json")
    assert "成功".encode() in response.content


def test_default_clock_is_read_lazily() -> None:
    """
    An emulator can be built outside an event loop; the clock is read on first use.
    """
    emu = Emulator()
    assert "test-key" == emu.api_key
    assert isinstance(emu.transport(), httpx.AsyncBaseTransport)
