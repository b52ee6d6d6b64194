"""
Filling forms by meaning: every check happens before anything is uploaded or charged.
"""

from __future__ import annotations

from typing import Any

import pytest

import a1art_async as a1
from a1art_async._converter import structure
from a1art_async._forms import estimate_cost, plan

from .test_models import DOC_APP

FORM_APP = structure({**DOC_APP, "cost": None}, a1.App)
NODE_APP = structure(DOC_APP, a1.App)
GROUP_APP = a1.App(
    id="g",
    version_id="v1",
    name="Couple",
    forms=(
        a1.Form("left", a1.FormType.CNET, "Left person", position="0"),
        a1.Form("right", a1.FormType.CNET, "Right person", position="1"),
        a1.Form("st", a1.FormType.STYLE, "Style"),
    ),
    styles=(a1.Style("s1", "Wedding"), a1.Style("s2", "Beach")),
)
TEXT_APP = a1.App(
    id="t",
    version_id="v",
    forms=(a1.Form("d", a1.FormType.DESCRIPTION, "Prompt"), a1.Form("z", a1.FormType.SIZE)),
)
UPLOAD = a1.Upload("u.png", "assets/x/form/")
INPUT_ID = "description_1705463790428_variant1"


def _full(**overrides: Any) -> a1.GenerateRequest:
    args: dict[str, Any] = {
        "image": UPLOAD,
        "prompt": "black devon rex cat",
        "style": "High Quality Anmie",
        "aspect": "16:9",
        "count": 2,
    }
    args.update(overrides)
    checked = plan(FORM_APP, **args)
    return checked.request([UPLOAD] * len(checked.images))


def test_form_app_request_from_meaning() -> None:
    """
    An image, a prompt, a style name and an aspect fill every form of the docs' app.
    """
    request = _full()
    assert (
        a1.GenerateRequest(
            app_id=FORM_APP.id,
            version_id=FORM_APP.version_id,
            generate_num=2,
            cnet=[a1.CnetPart("1705408562085", "u.png", "assets/x/form/")],
            description=[a1.DescriptionPart(INPUT_ID, "black devon rex cat")],
            style_id="1766068889598496769",
            size=a1.Size.WIDESCREEN_16_9,
        )
        == request
    )


def test_prompts_by_input_title_and_tags() -> None:
    """
    Prompts can be keyed by an input's title; tags come from the input's tag list.
    """
    request = _full(
        prompt=None,
        prompts={"Color and breed, such as: black devon rex cat": "a cat"},
        tags="Obsidian_black",
    )
    assert (a1.DescriptionPart(INPUT_ID, "a cat, Obsidian_black"),) == request.description


def test_style_by_id_or_case_insensitive_name() -> None:
    """
    A style is found by id or, failing that, by name in any case.
    """
    assert "1766068889598496769" == _full(style="1766068889598496769").style_id
    assert "1766068889598496769" == _full(style="high quality anmie").style_id


@pytest.mark.parametrize(
    ("overrides", "field", "hint"),
    [
        ({"style": "Watercolor"}, "style", "High Quality Anmie"),
        ({"style": None}, "style", "High Quality Anmie"),
        ({"aspect": "5:4"}, "size", "16:9"),
        ({"aspect": None}, "aspect", "9:16"),
        ({"image": None}, "image", "Photo of your pet"),
        ({"prompt": None}, "prompt", "Description"),
        ({"prompt": "  "}, "prompt", "empty"),
        ({"prompts": {"Eyes": "blue"}}, "prompts", INPUT_ID),
        ({"tags": "Golden"}, "tags", "Obsidian_black"),
        ({"count": 5}, "count", "1 to 4"),
        ({"count": 0}, "count", "1 to 4"),
        ({"images": [UPLOAD]}, "image", "not both"),
    ],
)
def test_bad_choices_name_the_field_and_the_valid_ones(
    overrides: dict[str, Any], field: str, hint: str
) -> None:
    """
    Each mistake raises ValidationError naming the field and listing what is valid.
    """
    with pytest.raises(a1.ValidationError, match=hint) as caught:
        _full(**overrides)
    assert field == caught.value.field


def test_an_app_with_a_cost_is_not_refused_on_a_guess() -> None:
    """
    A count above 1 on an app with a `cost` is left for the server to judge, and its
    estimate is a range, since the docs do not say whether `cost` makes a node app.
    """
    many = plan(
        NODE_APP, image=UPLOAD, prompt="x", style="High Quality Anmie", aspect="1:1", count=2
    )
    one = plan(NODE_APP, image=UPLOAD, prompt="x", style="High Quality Anmie", aspect="1:1")
    assert 2 == many.request([UPLOAD]).generate_num
    assert ((2, 4, False), (1, 2, False)) == (
        (many.cost.low, many.cost.high, many.cost.exact),
        (one.cost.low, one.cost.high, one.cost.exact),
    )


def test_group_photo_images_by_position() -> None:
    """
    Group photos take images in position order or keyed by position, and send positions.
    """
    other = a1.Upload("v.png", "assets/x/form/")
    in_order = plan(GROUP_APP, images=[UPLOAD, other], style="Beach").request([UPLOAD, other])
    keyed = plan(GROUP_APP, images={"1": other, "0": UPLOAD}, style="Beach")
    assert [("left", "0", "u.png"), ("right", "1", "v.png")] == [
        (part.id, part.position, part.image_url) for part in in_order.cnet
    ]
    assert [form.position for form, _ in keyed.images] == ["0", "1"]
    with pytest.raises(a1.ValidationError, match="2 images"):
        plan(GROUP_APP, image=UPLOAD, style="Beach")
    with pytest.raises(a1.ValidationError, match="valid positions"):
        plan(GROUP_APP, images={"0": UPLOAD, "1": other, "2": other}, style="Beach")


def test_text_app_needs_no_image_and_refuses_one() -> None:
    """
    A text-only app takes a prompt and an aspect, and refuses an image.
    """
    request = plan(TEXT_APP, prompt="a lighthouse", aspect="9:16").request([])
    assert ((), "d", a1.Size.VERTICAL_9_16) == (
        request.cnet,
        request.description[0].id,
        request.size,
    )
    with pytest.raises(a1.ValidationError, match="takes no image"):
        plan(TEXT_APP, image=UPLOAD, prompt="a lighthouse", aspect="9:16")
    with pytest.raises(a1.ValidationError, match="no style"):
        plan(TEXT_APP, prompt="a lighthouse", aspect="9:16", style="x")


@pytest.mark.parametrize(
    ("app", "count", "low", "high"),
    [(FORM_APP, 3, 3, 3), (NODE_APP, 1, 1, 2), (NODE_APP, 3, 2, 6)],
)
def test_estimates_follow_the_charging_rules(app: a1.App, count: int, low: int, high: int) -> None:
    """
    An app without a cost is charged 1 credit per image, exactly; one with a cost
    between the form rule and count x cost, and budgets reserve the top.
    """
    estimate = estimate_cost(app, count)
    assert (low, high, low == high, high, high) == (
        estimate.low,
        estimate.high,
        estimate.exact,
        estimate.credits,
        int(estimate),
    )


def test_the_first_real_problem_is_named_first() -> None:
    """
    With the image, the style and the aspect all missing, the error names the image:
    the forms are checked in the order a user fills them.
    """
    with pytest.raises(a1.ValidationError) as caught:
        plan(FORM_APP, prompt="a cat")
    assert "image" == caught.value.field
