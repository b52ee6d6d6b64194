"""
The seeded apps, as published: forms, styles, localized titles, and their JSON shape.

The catalog is immutable; what changes at runtime (an app's current ``versionId`` after a
republish) lives in the emulator's state and is passed in when an app is rendered.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal

import attrs

from .. import apps

LANGUAGES: Final = (
    "zh_CN",
    "en_US",
    "zh_TW",
    "ru_RU",
    "ja_JP",
    "pt_BR",
    "es_MX",
    "de_DE",
    "id_ID",
    "tr_TR",
    "vi_VN",
    "th_TH",
    "ms_MY",
)
"""The 13 ``language`` values the docs list for the app details endpoint."""

FormType = Literal["style", "cnet", "description", "size"]
AppKind = Literal["form", "node", "video"]

SIZE_IDS: Final = ("1", "2", "3", "4", "5", "6", "7")
"""Documented size ids, for 1:1, 3:4, 1:2, 4:3, 2:1, 16:9 and 9:16."""

COVER_PATH: Final = "/assets/style/cover_image/"


@attrs.frozen
class Text:
    """
    A title in the published language (en_US) and its zh_CN translation.

    Other languages fall back to the published text, as the docs say happens when no
    translation is asked for.
    """

    en_US: str
    zh_CN: str

    def get(self, language: str | None) -> str:
        """
        Pick the text for *language*, falling back to the published one.
        """
        return self.zh_CN if language == "zh_CN" else self.en_US


@attrs.frozen
class Input:
    """
    One input of a description form: its id is what generate takes for the value.
    """

    id: str
    title: Text
    tags: tuple[str, ...]


@attrs.frozen
class Form:
    """
    One entry of ``formArr``.
    """

    id: str
    type: FormType
    title: Text
    inputs: tuple[Input, ...] = ()
    position: str | None = None

    @property
    def description_ids(self) -> frozenset[str]:
        """
        The ids a description value may carry: the input ids if the form has inputs.
        """
        return frozenset(i.id for i in self.inputs) if self.inputs else frozenset({self.id})


@attrs.frozen
class Style:
    """
    One entry of ``styleArr``; *cover* is the file name on the CDN.
    """

    id: str
    name: Text
    cover: str


@attrs.frozen
class App:
    """
    A published app as the emulator serves it.

    ``kind`` decides what a generation costs: node and video apps charge their ``cost``
    per generation and make one result per request; form apps charge one credit per
    image whatever ``cost`` says.  ``cost`` is served when set: the docs' own form app
    (Crazy Pet) carries ``"cost": 2``, so a client cannot tell the kind from it.
    """

    id: str
    version_id: str
    name: Text
    kind: AppKind
    forms: tuple[Form, ...]
    styles: tuple[Style, ...]
    process_time: int
    created: str
    updated: str
    cost: int | None = None
    api_access: bool = True
    foreign_unpublished: bool = False
    vip: bool = False

    @property
    def result_ext(self) -> str:
        """
        The extension of result files: videos for the video app, PNG otherwise.
        """
        return "mp4" if self.kind == "video" else "png"

    def forms_of(self, form_type: FormType) -> tuple[Form, ...]:
        """
        The forms of one type, in ``formArr`` order.
        """
        return tuple(f for f in self.forms if f.type == form_type)


_STYLE = Text("Style", "风格")
_SIZE = Text("Size", "尺寸")


def _style_and_size(style_form: str, size_form: str) -> tuple[Form, Form]:
    return Form(style_form, "style", _STYLE), Form(size_form, "size", _SIZE)


def _cnet(form_id: str, title: Text, position: str = "0") -> Form:
    return Form(form_id, "cnet", title, position=position)


_APPS: Final = (
    App(
        id=apps.FORM,
        version_id="1803632078866341890",
        name=Text("Crazy Pet", "疯狂宠物"),
        kind="form",
        forms=(
            Form(
                "1705408562085",
                "cnet",
                Text("Photo of your pet", "你的宠物照片"),
                position="0",
            ),
            Form(
                "1705403286130",
                "description",
                Text("Description", "描述"),
                inputs=(
                    Input(
                        "description_1705463790428_variant1",
                        Text(
                            "Color and breed, such as: black devon rex cat",
                            "颜色和品种，例如：黑色德文卷毛猫",  # noqa: RUF001
                        ),
                        ("Obsidian_black", "Porcelain_white"),
                    ),
                ),
            ),
            *_style_and_size("1705398050190", "1705403291444"),
        ),
        styles=(
            Style(
                "1766068889598496769",
                Text("High Quality Anmie", "高质量动漫"),
                "6d7358e9-ddae-4253-bcc9-d4f54ebc25d5.png",
            ),
            Style(
                "1766069120371552258",
                Text("Watercolor", "水彩"),
                "0f1c2b7e-5a63-4d8e-9b1f-3c2d4e5f6a7b.png",
            ),
            Style(
                "1766069357228097537",
                Text("3D Cartoon", "3D卡通"),
                "9a8b7c6d-1e2f-4a3b-8c4d-5e6f7a8b9c0d.png",
            ),
        ),
        process_time=22,
        created="2024-06-20 11:32:52.0",
        updated="2024-06-20 19:51:55.0",
        # As in the docs' example response ("Node app consumption credits"), although
        # the app is a form app and is charged as one.
        cost=2,
    ),
    App(
        id=apps.TEXT,
        version_id="1805127734474985473",
        name=Text("Ghibli Landscapes", "吉卜力风景"),
        kind="form",
        forms=(
            Form(
                "1712044410512",
                "description",
                Text("Describe the scene", "描述画面"),
            ),
            *_style_and_size("1712044415870", "1712044419233"),
        ),
        styles=(
            Style(
                "1771203389101412354",
                Text("Summer Meadow", "夏日草原"),
                "3e1f9a70-2b4c-4d5e-8f60-718293a4b5c6.png",
            ),
            Style(
                "1771203412874727426",
                Text("Seaside Town", "海边小镇"),
                "7c6b5a49-3827-4160-9f8e-d7c6b5a49382.png",
            ),
        ),
        process_time=18,
        created="2024-06-24 10:15:03.0",
        updated="2024-07-02 16:40:21.0",
    ),
    App(
        id=apps.NODE,
        version_id="1809876251341799425",
        name=Text("Action Figure Doll", "手办人偶"),
        kind="node",
        forms=(
            _cnet("1719301122847", Text("Your photo", "你的照片")),
            Form(
                "1719301139518",
                "description",
                Text("Name on the box", "包装盒上的名字"),
            ),
        ),
        styles=(
            Style(
                "1780114526309863425",
                Text("Blister Pack", "吸塑包装"),
                "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d.png",
            ),
            Style(
                "1780114551643459586",
                Text("Collector Box", "收藏礼盒"),
                "b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e.png",
            ),
        ),
        process_time=35,
        created="2024-07-07 08:02:44.0",
        updated="2024-07-09 12:30:10.0",
        cost=2,
    ),
    App(
        id=apps.GROUP_PHOTO,
        version_id="1811204530202624001",
        name=Text("Couple Photo Booth", "情侣合照"),
        kind="form",
        forms=(
            _cnet("1720588801234", Text("Left person", "左边的人")),
            _cnet("1720588805678", Text("Right person", "右边的人"), "1"),
            *_style_and_size("1720588809012", "1720588812345"),
        ),
        styles=(
            Style(
                "1782001928374650881",
                Text("Wedding Studio", "婚纱影楼"),
                "c3d4e5f6-a7b8-4c9d-8e1f-2a3b4c5d6e7f.png",
            ),
            Style(
                "1782001955102195713",
                Text("Polaroid", "拍立得"),
                "d4e5f6a7-b8c9-4d0e-9f2a-3b4c5d6e7f80.png",
            ),
            Style(
                "1782001983467417602",
                Text("Cherry Blossom", "樱花季"),
                "e5f6a7b8-c9d0-4e1f-8a3b-4c5d6e7f8091.png",
            ),
        ),
        process_time=40,
        created="2024-07-11 14:20:00.0",
        updated="2024-07-15 09:05:37.0",
    ),
    App(
        id=apps.VIDEO,
        version_id="1822330154671415297",
        name=Text("Ghibli Motion", "吉卜力动态视频"),
        kind="video",
        forms=(
            Form(
                "1723450012001",
                "cnet",
                Text("Picture to animate", "要动起来的图片"),
                position="0",
            ),
            Form(
                "1723450019002",
                "description",
                Text("Describe the motion", "描述动作"),
            ),
        ),
        styles=(
            Style(
                "1790230045118201857",
                Text("Gentle Breeze", "微风拂面"),
                "1b2c3d4e-5f60-4718-8293-a4b5c6d7e8f9.png",
            ),
            Style(
                "1790230067392045058",
                Text("Slow Zoom", "缓慢推近"),
                "2c3d4e5f-6071-4829-93a4-b5c6d7e8f90a.png",
            ),
        ),
        process_time=60,
        created="2024-08-10 18:44:12.0",
        updated="2024-08-12 11:02:58.0",
        cost=10,
    ),
    App(
        id=apps.VIP,
        version_id="1815561873924771841",
        name=Text("Atmospheric Portrait Studio", "氛围感写真馆"),
        kind="form",
        forms=(
            _cnet("1721622090311", Text("Your portrait", "你的肖像")),
            *_style_and_size("1721622094420", "1721622098533"),
        ),
        styles=(
            Style(
                "1786620011122334465",
                Text("Golden Hour", "黄金时刻"),
                "f6a7b8c9-d0e1-4f2a-9b4c-5d6e7f8091a2.png",
            ),
            Style(
                "1786620033344556546",
                Text("Film Noir", "黑色电影"),
                "0a1b2c3d-4e5f-4061-8728-394a5b6c7d8e.png",
            ),
        ),
        process_time=30,
        created="2024-07-23 21:10:45.0",
        updated="2024-07-25 07:55:19.0",
        vip=True,
    ),
    App(
        id=apps.NO_API,
        version_id="1807712245835599874",
        name=Text("Digital Avatar", "数字分身"),
        kind="form",
        forms=(
            _cnet("1718005500101", Text("Your face", "你的脸")),
            Form("1718005500202", "description", Text("Voice script", "配音文案")),
        ),
        styles=(
            Style(
                "1777340120045219841",
                Text("Studio Anchor", "演播室主播"),
                "3d4e5f60-7182-4930-a4b5-c6d7e8f90a1b.png",
            ),
            Style(
                "1777340146600443906",
                Text("Street Vlog", "街头Vlog"),
                "4e5f6071-8293-4a41-b5c6-d7e8f90a1b2c.png",
            ),
        ),
        process_time=90,
        created="2024-06-30 13:00:00.0",
        updated="2024-06-30 13:00:00.0",
        api_access=False,
    ),
    App(
        id=apps.FOREIGN_UNPUBLISHED,
        version_id="1820048216609132546",
        name=Text("Draft Sticker Pack", "表情包草稿"),
        kind="node",
        forms=(
            _cnet("1722901234567", Text("Your photo", "你的照片")),
            Form("1722901239876", "description", Text("Caption", "配文")),
        ),
        styles=(
            Style(
                "1791450210987654145",
                Text("Pixel Art", "像素风"),
                "5f607182-93a4-4b52-86d7-e8f90a1b2c3d.png",
            ),
            Style(
                "1791450234501234690",
                Text("Comic Pop", "波普漫画"),
                "60718293-a4b5-4c63-97e8-f90a1b2c3d4e.png",
            ),
        ),
        process_time=25,
        created="2024-08-05 09:30:30.0",
        updated="2024-08-05 09:30:30.0",
        cost=1,
        foreign_unpublished=True,
    ),
)

CATALOG: Final[Mapping[str, App]] = MappingProxyType({app.id: app for app in _APPS})
"""Every seeded app by id; ids are the constants of :mod:`a1art_async.testing.apps`."""

COVERS: Final[Mapping[str, Style]] = MappingProxyType(
    {style.cover: style for app in CATALOG.values() for style in app.styles}
)
"""Style cover file names, for the CDN."""


def _form_json(form: Form, language: str | None) -> dict[str, object]:
    out: dict[str, object] = {"id": form.id, "type": form.type, "title": form.title.get(language)}
    if form.inputs:
        out["inputs"] = [
            {"id": i.id, "title": i.title.get(language), "tags": list(i.tags)} for i in form.inputs
        ]
    if form.position is not None:
        out["position"] = form.position
    return out


def app_info(
    app: App, *, version_id: str, updated: str, language: str | None, cdn_origin: str
) -> dict[str, object]:
    """
    Render an app the way ``GET /apps/{appId}`` puts it under ``data.appInfo``.

    Args:
        app: The catalog entry.
        version_id: The current version (changes when the app is republished).
        updated: The current ``updateDate``.
        language: One of :data:`LANGUAGES`, or None for the published language.
        cdn_origin: Where style cover images are served.

    Returns:
        A dict in the documented key order; ``cost`` only when the app has one.
    """
    info: dict[str, object] = {
        "id": app.id,
        "versionId": version_id,
        "name": app.name.get(language),
        "formArr": [_form_json(f, language) for f in app.forms],
        "styleArr": [
            {"id": s.id, "name": s.name.get(language), "image": cdn_origin + COVER_PATH + s.cover}
            for s in app.styles
        ],
        "updateDate": updated,
        "createDate": app.created,
        "processTime": str(app.process_time),
    }
    if app.cost is not None:
        info["cost"] = app.cost
    return info
