"""
The CDN origins: result files of finished tasks and style cover images.

Result files are drawn when first requested, from what the task was asked for (see
:mod:`._pictures`): a PNG of the requested size made from its uploaded pictures (PNG
uploads; JPEGs and PNGs too large to read cheaply are replaced by a gradient), coloured
by its style and patterned by its prompt; or an MP4 for the video app.  The latest
pictures and decoded uploads are kept in small caches, so nothing large piles up.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ._catalog import COVER_PATH, COVERS
from ._faults import Faults
from ._files import Pixels, decode_png, mp4_bytes
from ._http import Request, Response, normalize_origin
from ._pictures import Look, render
from ._store import Store, TaskPlan

_XML = "application/xml"


def _xml_error(status: int, code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error>\n  <Code>{code}</Code>\n  <Message>{message}</Message>\n</Error>\n"
    ).encode()
    return Response(status, (("content-type", _XML),), body)


def _decoded(store: Store, image_url: str) -> Pixels | None:
    """
    An upload's pixels (None for a JPEG, or a PNG too large to read cheaply), cached.
    """

    def read() -> Pixels | None:
        record = store.uploads.get(image_url)
        return decode_png(record.data) if record is not None else None

    return store.decoded.get(image_url, read)


def _draw(store: Store, plan: TaskPlan, index: int) -> bytes:
    """
    The *index*-th result picture of *plan*: its uploads (those that decode), cropped to
    its size, in its style's colours under a pattern drawn from prompt and style; an
    enhance keeps the picture's own colours and has no pattern.
    """
    width, height = plan.result_size
    decoded = (_decoded(store, url) for url in plan.uploads)
    sources = [pixels for pixels in decoded if pixels is not None]
    if plan.kind == "optimize":
        return render(width, height, sources=sources, look=Look.neutral(), pattern=None)
    prompt = plan.prompt or ""
    # An app without styles (a node app) takes its colours from the prompt.
    look = Look.from_seed(plan.style_id or f"{plan.app_id}|{prompt}")
    pattern = f"{prompt}|{plan.style_id}"
    return render(width, height, sources=sources, look=look, pattern=pattern, variant=index)


def _result_bytes(store: Store, plan: TaskPlan, index: int) -> tuple[bytes, str]:
    if plan.ext == "mp4":
        return mp4_bytes(), "video/mp4"
    picture = store.pictures.get((plan.task_id, index), lambda: _draw(store, plan, index))
    return picture, "image/png"


def _cover(store: Store, style_id: str) -> bytes:
    return store.pictures.get(
        (f"cover:{style_id}", 0),
        lambda: render(64, 64, look=Look.from_seed(style_id), pattern=None),
    )


def task_of(path: str) -> str | None:
    """
    The task id in a ``/results/<taskId>/<n>.<ext>`` path, or None.
    """
    pieces = path.split("/")
    return pieces[2] if len(pieces) == 4 and pieces[1] == "results" else None


def lookup(store: Store, faults: Faults, path: str) -> tuple[Response, str]:
    """
    Find the file at *path* on any CDN origin.

    Args:
        store: Where the tasks are.
        faults: For ``result_ttl``.
        path: The URL path.

    Returns:
        The answer and the journal outcome: ``ok``, ``expired`` (403 past the result
        TTL) or ``not_found`` (404, including results of unfinished tasks).
    """
    missing = _xml_error(404, "NoSuchKey", "The specified key does not exist.")
    if path.startswith(COVER_PATH):
        style = COVERS.get(path.removeprefix(COVER_PATH))
        if style is None:
            return missing, "not_found"
        body = _cover(store, style.id)
        return Response(200, (("content-type", "image/png"),), body), "ok"
    task_id = task_of(path)
    plan = store.tasks.get(task_id) if task_id is not None else None
    name = path.rsplit("/", 1)[-1]
    now = store.now()
    if plan is None or name not in plan.file_names() or plan.state_at(now) != 10:
        return missing, "not_found"
    if faults.result_ttl is not None and now >= plan.due_at + faults.result_ttl:
        return _xml_error(403, "AccessDenied", "Request has expired."), "expired"
    body, content_type = _result_bytes(store, plan, plan.file_names().index(name))
    return Response(200, (("content-type", content_type),), body), "ok"


def serve(store: Store, faults: Faults, request: Request) -> tuple[Response, str]:
    """
    Answer a request addressed to a CDN origin (no API key needed).

    Returns:
        The answer and the journal outcome, as :func:`lookup`; a method other than GET
        or HEAD is ``not_found`` with 405.
    """
    if request.method not in ("GET", "HEAD"):
        return _xml_error(405, "MethodNotAllowed", "The method is not allowed."), "not_found"
    response, outcome = lookup(store, faults, request.path)
    if response.status == 200 and faults.oversized_download:
        response = Response(response.status, response.headers, response.body, oversized=True)
    if request.method == "HEAD":
        length = str(len(response.body))
        response = Response(response.status, (*response.headers, ("content-length", length)), b"")
    return response, outcome


def fetch(store: Store, faults: Faults, url: str) -> bytes | None:
    """
    What an ``imageUrl`` upload downloads: a registered remote image or one of the
    emulator's own CDN files; None when neither (the emulator never leaves the process).
    """
    remote = store.remote.get(url)
    if remote is not None:
        return remote.data
    parts = urlsplit(url)
    if parts.hostname is None or not parts.scheme:
        return None
    try:
        origin = normalize_origin(parts.scheme, parts.hostname, parts.port)
    except ValueError:  # a port outside 0-65535
        return None
    if origin not in (store.cdn_origin, store.cdn_cn_origin):
        return None
    response, _ = lookup(store, faults, parts.path)
    return response.body if response.status == 200 else None
