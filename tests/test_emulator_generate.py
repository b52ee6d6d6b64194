"""
``POST /images/generate``: costs, task creation and every documented refusal, in order.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from a1art_async.testing import Emulator, apps

from .test_emulator_support import API, KEY, code_of, generate, plain_client, upload, valid_body

FORM_CNET = "1705408562085"
FORM_DESCRIPTION = "1705403286130"
FORM_INPUT = "description_1705463790428_variant1"


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


async def _code(emu: Emulator, body: Any, key: str = KEY) -> int:
    async with plain_client(emu, key=key) as c:
        return code_of(await generate(c, body))


async def _form_body(emu: Emulator, **changes: Any) -> dict[str, Any]:
    async with plain_client(emu) as c:
        body = await valid_body(c, apps.FORM)
    body.update(changes)
    return body


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("app_id", "generate_num", "cost"),
    [
        (apps.FORM, "1", 1),
        (apps.FORM, "4", 4),
        (apps.FORM, 2, 2),
        (apps.TEXT, "3", 3),
        (apps.GROUP_PHOTO, "2", 2),
        (apps.NODE, "1", 2),
        (apps.VIDEO, 1, 10),
    ],
)
async def test_generation_charges_the_documented_cost(
    app_id: str, generate_num: Any, cost: int
) -> None:
    """
    Form apps cost 1 credit per image, node apps their ``cost``, a video 10 credits.
    """
    emu = Emulator(balance=100)
    async with plain_client(emu) as c:
        response = await generate(c, await valid_body(c, app_id, generate_num))
    task_id = response.json()["data"]["taskId"]
    assert 0 == code_of(response)
    assert re.fullmatch(r"[0-9a-f]{32}", task_id)
    assert 100 - cost == emu.balance(KEY)
    assert (cost, 1) == (emu.charged(KEY), emu.generate_calls(KEY))
    assert (app_id, cost, int(generate_num)) == (
        emu.tasks[task_id].app_id,
        emu.tasks[task_id].cost,
        emu.tasks[task_id].generate_num,
    )


@pytest.mark.anyio
async def test_vip_app_needs_a_vip_key() -> None:
    """
    The VIP app answers 324019 for a normal key and generates for a vip key.
    """
    emu = Emulator()
    emu.add_key("vip-key", vip=True)
    async with plain_client(emu, key="vip-key") as vip:
        vip_body = await valid_body(vip, apps.VIP)
        vip_code = code_of(await generate(vip, vip_body))
    async with plain_client(emu) as c:
        plain_code = code_of(await generate(c, await valid_body(c, apps.VIP)))
    assert (0, 324019) == (vip_code, plain_code)
    assert 0 == emu.charged(KEY)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b"[1, 2]", id="array"),
        pytest.param(b"\xff\xfe", id="not-utf8"),
    ],
)
async def test_body_that_is_not_a_json_object_is_10001(body: bytes) -> None:
    """
    A body that is not a JSON object answers 10001.
    """
    async with plain_client(Emulator()) as c:
        response = await c.post(f"{API}/images/generate", content=body)
    assert 10001 == code_of(response)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"appId": None}, id="no-appId"),
        pytest.param({"versionId": None}, id="no-versionId"),
        pytest.param({"generateNum": None}, id="no-generateNum"),
        pytest.param({"appId": 1803632078862147586}, id="numeric-appId"),
        pytest.param({"generateNum": True}, id="bool-generateNum"),
        pytest.param({"generateNum": 2.0}, id="float-generateNum"),
        pytest.param({"cnet": {"id": FORM_CNET}}, id="cnet-not-list"),
        pytest.param({"cnet": [{"id": FORM_CNET}]}, id="cnet-without-image"),
        pytest.param({"cnet": ["x"]}, id="cnet-entry-not-object"),
        pytest.param({"description": [{"id": FORM_INPUT, "value": 5}]}, id="value-not-string"),
        pytest.param({"styleId": 1766068889598496769}, id="numeric-styleId"),
        pytest.param({"size": "1"}, id="size-not-object"),
        pytest.param({"size": {"sizeId": 1}}, id="numeric-sizeId"),
        pytest.param(
            {"cnet": [{"id": FORM_CNET, "imageUrl": "a", "path": "b", "position": []}]},
            id="list-position",
        ),
    ],
)
async def test_missing_or_mistyped_fields_are_10001(change: dict[str, Any]) -> None:
    """
    Missing required fields and mistyped fields answer 10001 before the app is looked at.
    """
    emu = Emulator()
    body = await _form_body(emu, appId="1234567890123456789")  # unknown app: 324012 if reached
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    assert 10001 == await _code(emu, body)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("app_id", "code"),
    [
        ("1234567890123456789", 324012),
        ("", 324012),
        (apps.NO_API, 324010),
        (apps.FOREIGN_UNPUBLISHED, 324018),
        (apps.VIP, 324019),
    ],
)
async def test_app_refusals_come_before_version_checks(app_id: str, code: int) -> None:
    """
    Unknown, API-less, foreign and VIP apps answer their code even with a stale versionId.
    """
    emu = Emulator()
    assert code == await _code(emu, await _form_body(emu, appId=app_id, versionId="stale"))


@pytest.mark.anyio
async def test_stale_version_is_324013() -> None:
    """
    A versionId that is not the app's current one answers 324013, and nothing is charged.
    """
    emu = Emulator()
    body = await _form_body(emu, versionId="1803632078866341891")
    assert 324013 == await _code(emu, body)
    assert 0 == emu.charged()


@pytest.mark.anyio
async def test_bump_version_retires_the_old_version() -> None:
    """
    After ``bump_version`` the old versionId answers 324013 and the new one works.
    """
    emu = Emulator()
    body = await _form_body(emu)
    new_version = emu.bump_version(apps.FORM)
    async with plain_client(emu) as c:
        stale = code_of(await generate(c, body))
        info = (await c.get(f"{API}/apps/{apps.FORM}")).json()["data"]["appInfo"]
        fresh = code_of(await generate(c, {**body, "versionId": new_version}))
    assert (324013, 0) == (stale, fresh)
    assert new_version == info["versionId"]
    assert new_version == emu.current_version(apps.FORM)
    assert "1803632078866341890" != new_version
    assert "2024-06-20 19:51:55.0" != info["updateDate"]


@pytest.mark.anyio
@pytest.mark.parametrize("generate_num", ["two", "1.5", "", " 1"])
async def test_non_integer_generate_num_is_10001(generate_num: str) -> None:
    """
    A generateNum string that is not an integer answers 10001.
    """
    emu = Emulator()
    assert 10001 == await _code(emu, await _form_body(emu, generateNum=generate_num))


@pytest.mark.anyio
@pytest.mark.parametrize("generate_num", ["0", "5", "-1", 0, 5, 100])
async def test_generate_num_outside_one_to_four_is_324011(generate_num: Any) -> None:
    """
    generateNum outside 1-4 answers 324011 "The quantity must not exceed 4".
    """
    emu = Emulator()
    assert 324011 == await _code(emu, await _form_body(emu, generateNum=generate_num))


@pytest.mark.anyio
@pytest.mark.parametrize("app_id", [apps.NODE, apps.VIDEO])
async def test_node_and_video_apps_take_one_at_a_time(app_id: str) -> None:
    """
    Node and video apps answer 324011 for generateNum 2.
    """
    emu = Emulator()
    async with plain_client(emu) as c:
        body = await valid_body(c, app_id, "2")
    assert 324011 == await _code(emu, body)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "field", ["cnet", "description", "styleId", "size"], ids=lambda f: f"without-{f}"
)
async def test_every_form_type_needs_a_value(field: str) -> None:
    """
    Leaving out the value of any form type of the app answers 10001.
    """
    emu = Emulator()
    body = await _form_body(emu)
    del body[field]
    assert 10001 == await _code(emu, body)


@pytest.mark.anyio
async def test_empty_lists_count_as_missing() -> None:
    """
    ``"cnet": []`` gives the cnet form no value: 10001.
    """
    emu = Emulator()
    assert 10001 == await _code(emu, await _form_body(emu, cnet=[]))


@pytest.mark.anyio
async def test_cnet_id_must_be_a_cnet_form() -> None:
    """
    A cnet entry whose id is not a cnet form's id answers 10001.
    """
    emu = Emulator()
    body = await _form_body(emu)
    body["cnet"].append({**body["cnet"][0], "id": FORM_DESCRIPTION})
    assert 10001 == await _code(emu, body)


@pytest.mark.anyio
async def test_description_must_use_the_input_id_when_the_form_has_inputs() -> None:
    """
    The FORM app's description form has inputs, so its own id answers 10001.
    """
    emu = Emulator()
    body = await _form_body(emu, description=[{"id": FORM_DESCRIPTION, "value": "cat"}])
    assert 10001 == await _code(emu, body)


@pytest.mark.anyio
async def test_description_without_inputs_uses_the_form_id() -> None:
    """
    The TEXT app's description form has no inputs: its id works, anything else is 10001.
    """
    emu = Emulator()
    async with plain_client(emu) as c:
        body = await valid_body(c, apps.TEXT)
    wrong = copy.deepcopy(body)
    wrong["description"][0]["id"] = FORM_INPUT
    assert "1712044410512" == body["description"][0]["id"]
    assert (0, 10001) == (await _code(emu, body), await _code(emu, wrong))


@pytest.mark.anyio
@pytest.mark.parametrize("value", ["", "   "])
async def test_blank_description_is_10001(value: str) -> None:
    """
    An empty or blank description value answers 10001.
    """
    emu = Emulator()
    body = await _form_body(emu, description=[{"id": FORM_INPUT, "value": value}])
    assert 10001 == await _code(emu, body)


@pytest.mark.anyio
async def test_group_photo_needs_every_cnet_form_with_its_position() -> None:
    """
    The group photo answers 10001 for a missing person, a missing or wrong position.
    """
    emu = Emulator()
    async with plain_client(emu) as c:
        body = await valid_body(c, apps.GROUP_PHOTO)
    one_person = {**body, "cnet": body["cnet"][:1]}
    no_position = copy.deepcopy(body)
    del no_position["cnet"][1]["position"]
    swapped = copy.deepcopy(body)
    swapped["cnet"][0]["position"], swapped["cnet"][1]["position"] = "1", "0"
    numeric = copy.deepcopy(body)
    numeric["cnet"][0]["position"], numeric["cnet"][1]["position"] = 0, 1
    assert [10001, 10001, 10001, 0] == [
        await _code(emu, one_person),
        await _code(emu, no_position),
        await _code(emu, swapped),
        await _code(emu, numeric),
    ]


@pytest.mark.anyio
async def test_position_is_optional_outside_group_photos() -> None:
    """
    A single-cnet app accepts a cnet entry without ``position``.
    """
    emu = Emulator()
    body = await _form_body(emu)
    del body["cnet"][0]["position"]
    assert 0 == await _code(emu, body)


@pytest.mark.anyio
async def test_images_must_be_uploaded_by_the_same_key() -> None:
    """
    A cnet image that is unknown, another key's or sent with a wrong path answers 400004.
    """
    emu = Emulator()
    emu.add_key("other-key")
    body = await _form_body(emu)
    async with plain_client(emu, key="other-key") as other:
        theirs = await upload(other)
    unknown = copy.deepcopy(body)
    unknown["cnet"][0]["imageUrl"] = "00000000-0000-4000-8000-000000000000.png"
    foreign = copy.deepcopy(body)
    foreign["cnet"][0].update(theirs)
    wrong_path = copy.deepcopy(body)
    wrong_path["cnet"][0]["path"] = theirs["path"]
    assert [400004, 400004, 400004] == [
        await _code(emu, unknown),
        await _code(emu, foreign),
        await _code(emu, wrong_path),
    ]


@pytest.mark.anyio
async def test_image_check_comes_before_size_and_style_checks() -> None:
    """
    With a foreign image and a bad sizeId, the image check (400004) answers first.
    """
    emu = Emulator()
    body = await _form_body(emu, size={"sizeId": "9"})
    body["cnet"][0]["imageUrl"] = "00000000-0000-4000-8000-000000000000.png"
    assert 400004 == await _code(emu, body)


@pytest.mark.anyio
@pytest.mark.parametrize("size_id", ["0", "8", "16:9", ""])
async def test_size_id_outside_one_to_seven_is_10001(size_id: str) -> None:
    """
    A sizeId other than "1"-"7" answers 10001.
    """
    emu = Emulator()
    assert 10001 == await _code(emu, await _form_body(emu, size={"sizeId": size_id}))


@pytest.mark.anyio
@pytest.mark.parametrize("size_id", ["1", "2", "3", "4", "5", "6", "7"])
async def test_every_documented_size_id_is_accepted(size_id: str) -> None:
    """
    Each documented sizeId "1"-"7" generates.
    """
    emu = Emulator()
    assert 0 == await _code(emu, await _form_body(emu, size={"sizeId": size_id}))


@pytest.mark.anyio
async def test_style_outside_the_style_list_is_10001() -> None:
    """
    A styleId that is not in the app's styleArr (here: another app's) answers 10001.
    """
    emu = Emulator()
    assert 10001 == await _code(emu, await _form_body(emu, styleId="1771203389101412354"))


@pytest.mark.anyio
async def test_insufficient_balance_is_810012_and_charges_nothing() -> None:
    """
    A balance below the cost answers 810012; nothing is charged and no task is created.
    """
    emu = Emulator(balance=3)
    body = await _form_body(emu, generateNum="4")
    assert 810012 == await _code(emu, body)
    assert (3, 0, 0, 0) == (emu.balance(), emu.charged(), emu.generate_calls(), len(emu.tasks))
    emu.set_balance(KEY, 4)
    assert 0 == await _code(emu, body)
    assert 0 == emu.balance()


@pytest.mark.anyio
async def test_node_app_cost_is_per_generation() -> None:
    """
    A node app costing 2 needs 2 credits: 1 credit answers 810012.
    """
    emu = Emulator(balance=1)
    async with plain_client(emu) as c:
        body = await valid_body(c, apps.NODE)
    assert 810012 == await _code(emu, body)


@pytest.mark.anyio
async def test_counters_cover_every_key() -> None:
    """
    ``generate_calls`` and ``charged`` count per key and in total; failures do not count.
    """
    emu = Emulator()
    emu.add_key("other-key", balance=50)
    async with plain_client(emu) as c, plain_client(emu, key="other-key") as other:
        await generate(c, await valid_body(c, apps.FORM, "2"))
        await generate(other, await valid_body(other, apps.NODE))
        await generate(other, {"appId": apps.FORM})
    assert (1, 1, 2) == (
        emu.generate_calls(KEY),
        emu.generate_calls("other-key"),
        emu.generate_calls(),
    )
    assert (2, 2, 4) == (emu.charged(KEY), emu.charged("other-key"), emu.charged())
    assert 48 == emu.balance("other-key")


def test_add_key_refuses_duplicates_and_empty_keys() -> None:
    """
    Adding an existing or empty key raises ValueError.
    """
    emu = Emulator()
    with pytest.raises(ValueError, match="exists"):
        emu.add_key(KEY)
    with pytest.raises(ValueError, match="empty"):
        emu.add_key("")


def test_unknown_keys_raise_key_error() -> None:
    """
    Balance lookups of unknown keys raise KeyError.
    """
    emu = Emulator()
    with pytest.raises(KeyError):
        emu.balance("nobody")
    with pytest.raises(KeyError):
        emu.set_balance("nobody", 5)
    with pytest.raises(KeyError):
        emu.bump_version("1234567890123456789")
