"""
What the CDN origins serve (through the kit's file host): result files of finished tasks
and style cover images.

Result files are drawn when first requested, from what the task was asked for (the kit's
``render``): a PNG of the requested size made from its uploaded pictures (PNG
uploads; JPEGs and PNGs too large to read cheaply are replaced by a gradient), coloured
by its style and patterned by its prompt; or an MP4 for the video app.  The latest
pictures and decoded uploads are kept in small caches, so nothing large piles up.
"""

from __future__ import annotations

from .._kit import File, Look, Pixels, decode_png, mp4_bytes, render
from ._catalog import COVER_PATH, COVERS
from ._faults import Faults
from ._store import Store, TaskPlan


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


def find(store: Store, faults: Faults, path: str) -> File | None:
    """
    The file at *path* on any CDN origin: a style cover, or a result of a task in state
    10 (expired once ``result_ttl`` has passed since it ended); None for anything else.
    """
    if path.startswith(COVER_PATH):
        style = COVERS.get(path.removeprefix(COVER_PATH))
        return File("image/png", _cover(store, style.id)) if style is not None else None
    task_id = task_of(path)
    plan = store.tasks.get(task_id) if task_id is not None else None
    name = path.rsplit("/", 1)[-1]
    now = store.now()
    if plan is None or name not in plan.file_names() or plan.state_at(now) != 10:
        return None
    if faults.result_ttl is not None and now >= plan.due_at + faults.result_ttl:
        return File("application/xml", b"", expired=True)
    body, content_type = _result_bytes(store, plan, plan.file_names().index(name))
    return File(content_type, body)
