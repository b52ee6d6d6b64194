"""
The five API endpoints, written against the docs' parameter tables and limits.

Each handler validates in the order documented in ``docs/emulator.md`` and raises
:class:`~._codes.ApiError` at the first violation; on success it returns the ``data``
object and, for endpoints that concern a task, its id for the journal.  Handlers never
await: a request is processed atomically, like one database transaction.
"""

from __future__ import annotations

import json
import re
from typing import Final
from urllib.parse import urlsplit

from .._kit import Request, dimensions, parse_form, sniff
from . import _codes as codes
from ._catalog import CATALOG, LANGUAGES, SIZE_IDS, App, app_info
from ._codes import ApiError
from ._faults import Faults
from ._store import ENHANCED_SIDE, RESULT_SIZES, Store

MAX_UPLOAD_BYTES: Final = 10 * 1024 * 1024
MAX_ENHANCE_SIDE: Final = 2048
ENHANCE_COST: Final = 3
_SUFFIXES: Final = (".png", ".jpg", ".jpeg")
_INTEGER: Final = re.compile(r"-?[0-9]+")

Data = dict[str, object]


def _json_object(body: bytes) -> dict[str, object]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(codes.INVALID_PARAMS) from None
    if not isinstance(payload, dict):
        raise ApiError(codes.INVALID_PARAMS)
    return payload


def published_app(app_id: str) -> App:
    """
    The app an API call may use, or the documented refusal.

    Raises:
        ApiError: 324012 for an unknown id, 324010 for an app without API access,
            324018 for someone else's unpublished app.
    """
    app = CATALOG.get(app_id)
    if app is None:
        raise ApiError(codes.APP_NOT_FOUND)
    if not app.api_access:
        raise ApiError(codes.NO_API_ACCESS)
    if app.foreign_unpublished:
        raise ApiError(codes.FOREIGN_APP)
    return app


# -- GET /apps/{appId} ---------------------------------------------------------------------


def get_app(store: Store, request: Request, app_id: str) -> Data:
    """
    Application details, localized by the ``language`` query parameter.

    Raises:
        ApiError: 10001 for a language outside the 13 documented (checked first, as a
            parameter), then the refusals of :func:`published_app`.
    """
    language = request.param("language") or None  # an empty value counts as absent
    if language is not None and language not in LANGUAGES:
        raise ApiError(codes.INVALID_PARAMS)
    app = published_app(app_id)
    info = app_info(
        app,
        version_id=store.version(app.id),
        updated=store.updated(app.id),
        language=language,
        cdn_origin=store.cdn_origin,
    )
    return {"appInfo": info}


# -- POST /images/upload -------------------------------------------------------------------


def _has_image_suffix(name: str) -> bool:
    return name.lower().endswith(_SUFFIXES)


def _check_image(data: bytes) -> tuple[tuple[int, int], str]:
    if len(data) > MAX_UPLOAD_BYTES:
        raise ApiError(codes.IMAGE_TOO_LARGE)
    if not data:
        raise ApiError(codes.INVALID_FILE)
    kind = sniff(data)
    if kind is None:
        raise ApiError(codes.NOT_AN_IMAGE)
    if kind not in ("png", "jpeg"):
        raise ApiError(codes.UNSUPPORTED_FORMAT)
    size = dimensions(data)
    if size is None:
        raise ApiError(codes.INVALID_FILE)
    return size, "png" if kind == "png" else "jpg"


def upload(store: Store, request: Request, key: str) -> Data:
    """
    Accept one PNG or JPEG, as a file part ``file`` or fetched from ``imageUrl``.

    When both are sent (as the docs' own example does) the file wins.

    Raises:
        ApiError: 400001 more than one file (or, without a file, more than one URL);
            400000 neither; 10002 a file name not ending png/jpg/jpeg; 20101 a URL path
            not ending so; 20100 a URL that cannot be fetched; 400003 over 10 MiB;
            400004 empty; 400002 not an image; 400005 an image but not PNG/JPEG;
            400004 a PNG/JPEG whose header is unreadable.
    """
    parts = parse_form(request.header("content-type"), request.body)
    files = [p for p in parts if p.filename is not None or p.name == "file"]
    urls = [u for p in parts if p.name == "imageUrl" and p.filename is None if (u := _text(p.data))]
    if len(files) > 1 or (not files and len(urls) > 1):
        raise ApiError(codes.ONE_IMAGE_ONLY)
    if files:
        if not _has_image_suffix(files[0].filename or ""):
            raise ApiError(codes.UNSUPPORTED_SUFFIX)
        data, source = files[0].data, "file"
    elif urls:
        source = urls[0]
        if not _has_image_suffix(urlsplit(source).path):
            raise ApiError(codes.FILE_SUFFIX_ERROR)
        fetched = store.files.fetch(source)
        if fetched is None:
            raise ApiError(codes.FILE_ERROR)
        data = fetched
    else:
        raise ApiError(codes.MISSING_IMAGE)
    size, ext = _check_image(data)
    record = store.add_upload(key, data, size, ext, source)
    return {"imageUrl": record.image_url, "path": record.path}


def _text(data: bytes) -> str:
    try:
        return data.decode().strip()
    except UnicodeDecodeError:
        return ""


# -- POST /images/generate -----------------------------------------------------------------


def _entries(
    payload: dict[str, object], field: str, required: tuple[str, ...]
) -> list[dict[str, str]]:
    """
    A list of objects whose *required* fields are strings; ``position`` may be a number.
    """
    raw = payload.get(field)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ApiError(codes.INVALID_PARAMS)
    entries: list[dict[str, str]] = []
    for item in raw:
        if not isinstance(item, dict) or not all(isinstance(item.get(f), str) for f in required):
            raise ApiError(codes.INVALID_PARAMS)
        entry = {f: item[f] for f in required}
        position = item.get("position")
        if position is not None:
            if isinstance(position, bool) or not isinstance(position, str | int):
                raise ApiError(codes.INVALID_PARAMS)
            entry["position"] = str(position)
        entries.append(entry)
    return entries


def _optional_str(payload: dict[str, object], field: str) -> str | None:
    value = payload.get(field)
    if value is not None and not isinstance(value, str):
        raise ApiError(codes.INVALID_PARAMS)
    return value


def _size_id(payload: dict[str, object]) -> str | None:
    size = payload.get("size")
    if size is None:
        return None
    if not isinstance(size, dict) or not isinstance(size.get("sizeId"), str):
        raise ApiError(codes.INVALID_PARAMS)
    return str(size["sizeId"])


def _count(raw: object) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and _INTEGER.fullmatch(raw):
        return int(raw)
    return None


def generate(store: Store, faults: Faults, request: Request, key: str) -> tuple[Data, str]:
    """
    Start a generation: validate, charge, create the task.

    Raises:
        ApiError: In this order: 10001 for a body that is not a JSON object, a missing or
            mistyped ``appId``/``versionId``/``generateNum`` or a mistyped optional field;
            324012/324010/324018 for the app; 324019 for a VIP app without a vip key;
            324013 for a stale ``versionId``; 10001 when ``generateNum`` is not an
            integer; 324011 outside 1-4 (or not 1 on node and video apps); 10001 when a
            form type gets no value, a cnet id is not a cnet form, a description id is
            not the form's (or its input's) id, a value is blank, or a group photo entry
            lacks its form's position; 400004 for an image not uploaded by this key;
            10001 for a sizeId outside "1"-"7" or a styleId outside ``styleArr``;
            810012 when the balance is below the cost.
    """
    payload = _json_object(request.body)
    app_id, version_id = payload.get("appId"), payload.get("versionId")
    raw_num = payload.get("generateNum")
    if not isinstance(app_id, str) or not isinstance(version_id, str):
        raise ApiError(codes.INVALID_PARAMS)
    if isinstance(raw_num, bool) or not isinstance(raw_num, str | int):
        raise ApiError(codes.INVALID_PARAMS)
    cnet = _entries(payload, "cnet", ("id", "imageUrl", "path"))
    description = _entries(payload, "description", ("id", "value"))
    style_id = _optional_str(payload, "styleId")
    size_id = _size_id(payload)

    app = published_app(app_id)
    if app.vip and not store.accounts[key].vip:
        raise ApiError(codes.VIP_ONLY)
    if version_id != store.version(app.id):
        raise ApiError(codes.APP_UPDATED)
    count = _count(raw_num)
    if count is None:
        raise ApiError(codes.INVALID_PARAMS)
    # The kind decides, not the `cost` field: the docs' own form app carries one.
    per_request = app.kind in ("node", "video")
    if not 1 <= count <= 4 or (per_request and count != 1):
        raise ApiError(codes.QUANTITY)

    _check_forms(store, app, key, cnet, description, style_id, size_id)

    cost = app.cost if per_request and app.cost is not None else count
    account = store.accounts[key]
    if account.balance < cost:
        raise ApiError(codes.BALANCE_INSUFFICIENT)
    store.charge(key, cost)
    account.generate_calls += 1
    plan = store.new_task(
        kind="generate",
        app=app,
        key=key,
        generate_num=count,
        cost=cost,
        result_size=RESULT_SIZES[size_id or "1"],
        faults=faults,
        # What the results are drawn from: the pictures in position order, the style,
        # the prompt.
        uploads=tuple(
            entry["imageUrl"]
            for form in app.forms_of("cnet")
            for entry in cnet
            if entry["id"] == form.id
        ),
        size_id=size_id,
        style_id=style_id,
        prompt=" / ".join(entry["value"].strip() for entry in description) or None,
    )
    store.note_generation(app, faults.version_bump_after)
    return {"taskId": plan.task_id}, plan.task_id


def _check_forms(
    store: Store,
    app: App,
    key: str,
    cnet: list[dict[str, str]],
    description: list[dict[str, str]],
    style_id: str | None,
    size_id: str | None,
) -> None:
    cnet_forms = {f.id: f for f in app.forms_of("cnet")}
    description_ids = frozenset().union(*(f.description_ids for f in app.forms_of("description")))
    given = {entry["id"] for entry in cnet}
    if (
        any(form_id not in given for form_id in cnet_forms)
        or (app.forms_of("description") and not description)
        or (app.forms_of("style") and style_id is None)
        or (app.forms_of("size") and size_id is None)
        or any(entry["id"] not in cnet_forms for entry in cnet)
        or any(entry["id"] not in description_ids for entry in description)
        or any(not entry["value"].strip() for entry in description)
    ):
        raise ApiError(codes.INVALID_PARAMS)
    if len(cnet_forms) > 1 and any(
        entry.get("position") != cnet_forms[entry["id"]].position for entry in cnet
    ):
        raise ApiError(codes.INVALID_PARAMS)
    if any(store.find_upload(key, e["path"], e["imageUrl"]) is None for e in cnet):
        raise ApiError(codes.INVALID_FILE)
    if size_id is not None and size_id not in SIZE_IDS:
        raise ApiError(codes.INVALID_PARAMS)
    if style_id is not None and style_id not in {s.id for s in app.styles}:
        raise ApiError(codes.INVALID_PARAMS)


# -- POST /images/optimize -----------------------------------------------------------------


def optimize(store: Store, faults: Faults, request: Request, key: str) -> tuple[Data, str]:
    """
    Start an enhance (fine drawing) task for an uploaded image; 3 credits.

    Raises:
        ApiError: 10001 when ``path`` or ``imageUrl`` is missing or not a string;
            400004 when they do not name an upload by this key; 400006 when either side
            exceeds 2048 pixels; 810012 when the balance is below 3.
    """
    payload = _json_object(request.body)
    path, image_url = payload.get("path"), payload.get("imageUrl")
    if not isinstance(path, str) or not isinstance(image_url, str) or not path or not image_url:
        raise ApiError(codes.INVALID_PARAMS)
    record = store.find_upload(key, path, image_url)
    if record is None:
        raise ApiError(codes.INVALID_FILE)
    if record.width > MAX_ENHANCE_SIDE or record.height > MAX_ENHANCE_SIDE:
        raise ApiError(codes.DIMENSIONS_TOO_LARGE)
    if store.accounts[key].balance < ENHANCE_COST:
        raise ApiError(codes.BALANCE_INSUFFICIENT)
    store.charge(key, ENHANCE_COST)
    longer = max(record.width, record.height)
    size = (
        max(1, round(ENHANCED_SIDE * record.width / longer)),
        max(1, round(ENHANCED_SIDE * record.height / longer)),
    )
    plan = store.new_task(
        kind="optimize",
        app=None,
        key=key,
        generate_num=1,
        cost=ENHANCE_COST,
        result_size=size,
        faults=faults,
        uploads=(record.image_url,),
    )
    return {"taskId": plan.task_id}, plan.task_id


# -- GET /tasks/{taskId} -------------------------------------------------------------------


def get_task(store: Store, request: Request, key: str, task_id: str) -> Data:
    """
    A task's state; result URLs on the CN CDN when the ``section`` header is ``cn``.

    Raises:
        ApiError: 10001 for an unknown id and for another key's task alike, so a key
            cannot probe which task ids exist.
    """
    plan = store.tasks.get(task_id)
    if plan is None or plan.key != key:
        raise ApiError(codes.INVALID_PARAMS)
    now = store.now()
    state = plan.state_at(now)
    section = (request.header("section") or "").strip().lower()
    cdn = store.cdn_cn_origin if section == "cn" else store.cdn_origin
    return {
        "id": plan.data_id,
        "state": state,
        "startDate": store.date(plan.start_at) if state != 0 else None,
        "finishDate": store.date(plan.due_at) if state in (10, 20) else None,
        "createDate": store.date(plan.created_at),
        "images": list(plan.result_urls(cdn)) if state == 10 else [],
    }
