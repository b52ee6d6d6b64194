from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import a1art_async as a1
from a1art_async._converter import format_date, structure, structure_task, unstructure

#: The app details of the docs' response example, verbatim.
DOC_APP: dict[str, Any] = {
    "id": "1803632078862147586",
    "versionId": "1803632078866341890",
    "name": "Crazy Pet",
    "formArr": [
        {"id": "1705408562085", "type": "cnet", "title": "Photo of your pet", "position": "0"},
        {
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
        },
        {"id": "1705398050190", "type": "style", "title": "Style"},
        {"id": "1705403291444", "type": "size", "title": "Size"},
    ],
    "styleArr": [
        {
            "id": "1766068889598496769",
            "name": "High Quality Anmie",
            "image": "https://cdn.a1.art/assets/style/cover_image/x.png",
        }
    ],
    "updateDate": "2024-06-20 19:51:55.0",
    "createDate": "2024-06-20 11:32:52.0",
    "processTime": "22",
    "cost": 2,
}


def test_app_from_the_docs_example() -> None:
    """
    The documented app details read into typed, snake_case models.
    """
    app = structure(DOC_APP, a1.App)
    assert "1803632078866341890" == app.version_id
    assert [a1.FormType.CNET, a1.FormType.DESCRIPTION, a1.FormType.STYLE, a1.FormType.SIZE] == [
        f.type for f in app.forms
    ]
    assert ("Obsidian_black", "Porcelain_white") == app.forms[1].inputs[0].tags
    assert "High Quality Anmie" == app.styles[0].name
    assert dt.datetime(2024, 6, 20, 19, 51, 55) == app.update_date
    assert 22.0 == app.process_time
    assert 2 == app.cost
    assert app.is_node_app


def test_unknown_fields_are_ignored_and_missing_optional_ones_tolerated() -> None:
    """
    New server fields do not break reading, and absent or null optional fields default.
    """
    app = structure({"id": 1, "versionId": "2", "newThing": {"x": 1}, "cost": None}, a1.App)
    assert ("1", "2", (), None, None) == (
        app.id,
        app.version_id,
        app.forms,
        app.cost,
        app.process_time,
    )


def test_task_from_the_docs_example_keeps_both_ids() -> None:
    """
    A task keeps the id it was queried with apart from the record id in its body.
    """
    body = {
        "id": "1803970662304264194",
        "state": 10,
        "startDate": "2024-06-21 09:58:16.0",
        "finishDate": "2024-06-21 09:58:28.0",
        "createDate": "2024-06-21 09:58:16.0",
        "images": ["imageUrl"],
    }
    task = structure_task(body, "507b080cfe17f7956e8690c4eba2b80f")
    assert "507b080cfe17f7956e8690c4eba2b80f" == task.task_id
    assert "1803970662304264194" == task.id
    assert a1.TaskState.COMPLETED is task.state
    assert task.is_final
    assert ("imageUrl",) == task.images
    assert dt.timedelta(seconds=12) == task.finish_date - task.start_date  # type: ignore[operator]


@pytest.mark.parametrize(
    "body",
    [
        {"state": 99},
        {"state": "running"},
        {"state": True},
        {"state": 10, "images": "http://x/a.png"},
        {"state": 10, "images": [1.5]},
        {"state": 10, "id": {"nested": 1}},
        {"state": 10, "createDate": "yesterday"},
        {"images": []},
    ],
)
def test_malformed_task_bodies_are_refused(body: dict[str, Any]) -> None:
    """
    Wrong types, unknown states and a string where a list belongs are errors, not guesses.
    """
    with pytest.raises(Exception, match="Task"):
        structure_task(body, "t")


def test_generate_request_wire_format() -> None:
    """
    A generate request writes camelCase, generateNum as a string and size as a sizeId.
    """
    request = a1.GenerateRequest(
        app_id="1",
        version_id="2",
        generate_num=3,
        cnet=[a1.CnetPart(id="c", image_url="u.png", path="assets/", position="0")],
        description=[a1.DescriptionPart(id="d", value="a cat")],
        style_id="s",
        size="16:9",
    )
    assert {
        "appId": "1",
        "versionId": "2",
        "generateNum": "3",
        "cnet": [{"id": "c", "imageUrl": "u.png", "path": "assets/", "position": "0"}],
        "description": [{"id": "d", "value": "a cat"}],
        "styleId": "s",
        "size": {"sizeId": "6"},
    } == unstructure(request)


def test_minimal_generate_request_leaves_out_what_is_absent() -> None:
    """
    Parts that were not given are not sent at all.
    """
    request = a1.GenerateRequest(app_id="1", version_id="2")
    assert {"appId": "1", "versionId": "2", "generateNum": "1"} == unstructure(request)


@pytest.mark.parametrize("count", [0, 5, -1, True, 2.0, "2"])
def test_generate_num_is_checked_when_built(count: Any) -> None:
    """
    generateNum outside 1-4 (or not an int) is a ValidationError naming the field.
    """
    with pytest.raises(a1.ValidationError) as caught:
        a1.GenerateRequest(app_id="1", version_id="2", generate_num=count)
    assert "generate_num" == caught.value.field


def test_empty_ids_are_refused() -> None:
    """
    Empty ids and empty prompts are refused before anything is sent.
    """
    with pytest.raises(a1.ValidationError, match="app_id"):
        a1.GenerateRequest(app_id="", version_id="2")
    with pytest.raises(a1.ValidationError, match="value"):
        a1.DescriptionPart(id="d", value="   ")


@pytest.mark.parametrize(
    ("aspect", "size_id"),
    [
        ("1:1", "1"),
        ("3:4", "2"),
        ("1:2", "3"),
        ("4:3", "4"),
        ("2:1", "5"),
        ("16:9", "6"),
        ("9:16", "7"),
    ],
)
def test_the_seven_sizes(aspect: str, size_id: str) -> None:
    """
    Each documented aspect ratio maps to its sizeId and back.
    """
    size = a1.Size.from_aspect(aspect)
    assert size_id == size.size_id
    assert aspect == size.aspect
    assert a1.Size(size_id) is size


def test_unknown_aspect_lists_the_choices() -> None:
    """
    An unknown aspect names the field and lists every valid aspect.
    """
    with pytest.raises(a1.ValidationError, match="16:9") as caught:
        a1.Size.from_aspect("5:4")
    assert "size" == caught.value.field


def test_languages() -> None:
    """
    The 13 documented languages parse, leniently on case and dash; others are refused.
    """
    assert 13 == len(a1.Language)
    assert a1.Language.EN_US is a1.Language.parse("en-us")
    with pytest.raises(a1.ValidationError, match="language"):
        a1.Language.parse("fr_FR")


def test_task_states() -> None:
    """
    Only completed (10) and failed (20) are final.
    """
    assert {a1.TaskState.COMPLETED, a1.TaskState.FAILED} == {s for s in a1.TaskState if s.is_final}


def test_task_states_print_as_names() -> None:
    """
    A state prints as its name, in str() and f-strings; its wire value stays its int.
    """
    state = a1.TaskState.COMPLETED
    assert ("COMPLETED", "COMPLETED", "COMPLETED ", 10) == (
        str(state),
        f"{state}",
        f"{state:10}",
        int(state),
    )


@given(
    moment=st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1)),
    state=st.sampled_from(list(a1.TaskState)),
    images=st.lists(st.text(min_size=1), max_size=4),
    record=st.integers(min_value=0, max_value=10**19),
)
def test_task_round_trips_through_json(
    moment: dt.datetime, state: a1.TaskState, images: list[str], record: int
) -> None:
    """
    A task body written the API's way reads back to the same values.
    """
    moment = moment.replace(microsecond=moment.microsecond // 100_000 * 100_000)
    body = {
        "id": record,
        "state": int(state),
        "createDate": format_date(moment),
        "startDate": format_date(moment),
        "finishDate": None,
        "images": images,
    }
    task = structure_task(json.loads(json.dumps(body)), "tid")
    assert (str(record), state, tuple(images), moment, None) == (
        task.id,
        task.state,
        task.images,
        task.create_date,
        task.finish_date,
    )
