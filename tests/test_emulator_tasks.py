"""
Tasks: state progression in (virtual) time, the task query, enhance, and result files.
"""

from __future__ import annotations

import io
import re
import statistics
from typing import Any

import anyio
import imagesize
import pytest

from a1art_async.testing import Emulator, apps, png_bytes

from .test_emulator_support import (
    API,
    KEY,
    code_of,
    generate,
    plain_client,
    sleep_until,
    upload,
    valid_body,
    wait_until_complete,
)

EPS = 1e-6


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


async def _start(emu: Emulator, app_id: str = apps.FORM, **changes: Any) -> str:
    async with plain_client(emu) as c:
        body = await valid_body(c, app_id, changes.pop("generate_num", "1"))
        body.update(changes)
        response = await generate(c, body)
    assert 0 == code_of(response)
    task_id: str = response.json()["data"]["taskId"]
    return task_id


async def _query(emu: Emulator, task_id: str, **headers: str) -> dict[str, Any]:
    async with plain_client(emu, headers=headers) as c:
        response = await c.get(f"{API}/tasks/{task_id}")
    assert 0 == code_of(response)
    data: dict[str, Any] = response.json()["data"]
    return data


@pytest.mark.anyio
async def test_state_changes_exactly_at_the_drawn_times() -> None:
    """
    A task is 0 until ``start_at``, 30 until ``due_at``, then 10, to the microsecond.
    """
    emu = Emulator()
    task_id = await _start(emu)
    record = emu.tasks[task_id]
    seen = []
    for moment in (
        record.start_at - EPS,
        record.start_at + EPS,
        record.due_at - EPS,
        record.due_at + EPS,
    ):
        await sleep_until(moment)
        data = await _query(emu, task_id)
        seen.append((data["state"], bool(data["startDate"]), bool(data["finishDate"])))
    assert [(0, False, False), (30, True, False), (30, True, False), (10, True, True)] == seen
    assert record.due_at == emu.complete_at(task_id)


@pytest.mark.anyio
async def test_finished_task_has_documented_shape() -> None:
    """
    A finished task answers a 19-digit id (not the taskId), dates and one URL per image.
    """
    emu = Emulator()
    task_id = await _start(emu, generate_num="3")
    await wait_until_complete(emu, task_id)
    data = await _query(emu, task_id)
    record = emu.tasks[task_id]
    assert ["createDate", "finishDate", "id", "images", "startDate", "state"] == sorted(data)
    assert re.fullmatch(r"[0-9]{19}", data["id"])
    assert task_id != data["id"]
    assert record.data_id == data["id"]
    assert 10 == data["state"]
    assert [f"https://cdn.a1.art.emulator/results/{task_id}/{n}.png" for n in range(3)] == data[
        "images"
    ]
    assert list(record.images) == data["images"]
    assert emu.date(record.created_at) == data["createDate"]
    assert emu.date(record.start_at) == data["startDate"]
    assert emu.date(record.due_at) == data["finishDate"]


@pytest.mark.anyio
async def test_dates_start_at_the_epoch_and_follow_the_clock() -> None:
    """
    The first request reads 2024-06-21 09:58:16.0; later dates add the clock's elapsed time.
    """
    emu = Emulator()
    task_id = await _start(emu)
    await anyio.sleep(3600)
    data = await _query(emu, task_id)
    assert "2024-06-21 09:58:16.0" == data["createDate"]
    assert re.fullmatch(r"2024-06-21 09:58:[0-9]{2}\.0", data["finishDate"])
    assert "2024-06-21 10:58:16.0" == emu.date(anyio.current_time())


@pytest.mark.anyio
async def test_durations_are_lognormal_around_process_time() -> None:
    """
    Drawn durations stay within half and twice processTime and centre on it.
    """
    emu = Emulator(balance=10_000)
    durations, queues = [], []
    async with plain_client(emu) as c:
        body = await valid_body(c, apps.FORM)
        for _ in range(60):
            task_id = (await generate(c, body)).json()["data"]["taskId"]
            record = emu.tasks[task_id]
            durations.append(record.due_at - record.created_at)
            queues.append((record.start_at - record.created_at) / durations[-1])
    assert all(11 <= d <= 44 for d in durations)
    assert 18 <= statistics.median(durations) <= 27
    assert all(0.05 <= q <= 0.15 for q in queues)


@pytest.mark.anyio
async def test_time_scale_multiplies_durations() -> None:
    """
    The same seed with ``time_scale=0.001`` draws durations a thousand times shorter.
    """
    slow, fast = Emulator(seed=7), Emulator(seed=7, time_scale=0.001)
    slow_task, fast_task = await _start(slow), await _start(fast)
    slow_record, fast_record = slow.tasks[slow_task], fast.tasks[fast_task]
    assert slow_task == fast_task
    assert (slow_record.due_at - slow_record.created_at) * 0.001 == pytest.approx(
        fast_record.due_at - fast_record.created_at
    )


def test_time_scale_must_be_positive() -> None:
    """
    A zero or negative time scale is refused.
    """
    with pytest.raises(ValueError, match="time_scale"):
        Emulator(time_scale=0)


@pytest.mark.anyio
async def test_same_seed_replays_ids_and_durations() -> None:
    """
    Two emulators with one seed draw the same ids and durations; another seed differs.
    """
    runs = []
    for seed in (1, 1, 2):
        emu = Emulator(seed=seed)
        task_id = await _start(emu)
        record = emu.tasks[task_id]
        runs.append((task_id, record.data_id, record.due_at - record.created_at))
    assert runs[0] == runs[1]
    assert runs[0][0] != runs[2][0]


@pytest.mark.anyio
async def test_section_cn_answers_urls_on_the_cn_cdn() -> None:
    """
    ``section: cn`` puts result URLs on the CN CDN origin, which serves them too.
    """
    emu = Emulator()
    task_id = await _start(emu)
    await wait_until_complete(emu, task_id)
    data = await _query(emu, task_id, section="cn")
    url = data["images"][0]
    async with plain_client(emu) as c:
        response = await c.get(url)
    assert url.startswith("https://cdn.a1art.xiaopiu.com.emulator/results/")
    assert (200, "image/png") == (response.status_code, response.headers["content-type"])


@pytest.mark.anyio
async def test_other_sections_use_the_global_cdn() -> None:
    """
    Any ``section`` other than cn keeps the global CDN.
    """
    emu = Emulator()
    task_id = await _start(emu)
    await wait_until_complete(emu, task_id)
    data = await _query(emu, task_id, section="us")
    assert data["images"][0].startswith("https://cdn.a1.art.emulator/")


@pytest.mark.anyio
async def test_unknown_and_foreign_tasks_are_10001() -> None:
    """
    Querying an unknown id or another key's task answers 10001 alike.
    """
    emu = Emulator()
    emu.add_key("other-key")
    task_id = await _start(emu)
    async with plain_client(emu, key="other-key") as other, plain_client(emu) as c:
        foreign = await other.get(f"{API}/tasks/{task_id}")
        unknown = await c.get(f"{API}/tasks/{'0' * 32}")
    assert (10001, 10001) == (code_of(foreign), code_of(unknown))


@pytest.mark.anyio
async def test_node_and_video_tasks_have_one_result() -> None:
    """
    Node and video tasks produce one file; the video's is an .mp4 served as video/mp4.
    """
    emu = Emulator()
    node, video = await _start(emu, apps.NODE), await _start(emu, apps.VIDEO)
    await wait_until_complete(emu, video)
    await wait_until_complete(emu, node)
    node_images, video_images = emu.tasks[node].images, emu.tasks[video].images
    async with plain_client(emu) as c:
        response = await c.get(video_images[0])
    assert 1 == len(node_images)
    assert node_images[0].endswith("/0.png")
    assert (f"https://cdn.a1.art.emulator/results/{video}/0.mp4",) == video_images
    assert "video/mp4" == response.headers["content-type"]
    assert b"ftyp" == response.content[4:8]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("size_id", "size"),
    [("1", (256, 256)), ("2", (192, 256)), ("3", (128, 256)), ("4", (256, 192)),
     ("5", (256, 128)), ("6", (256, 144)), ("7", (144, 256))],
)  # fmt: skip
async def test_result_pictures_follow_the_size_aspect(size_id: str, size: tuple[int, int]) -> None:
    """
    Result PNGs are 256 pixels on their longer side and shaped like the requested size's
    aspect ratio.
    """
    emu = Emulator()
    task_id = await _start(emu, size={"sizeId": size_id})
    await wait_until_complete(emu, task_id)
    async with plain_client(emu) as c:
        response = await c.get(emu.tasks[task_id].images[0])
    assert size == imagesize.get(io.BytesIO(response.content))
    assert str(len(response.content)) == response.headers["content-length"]


@pytest.mark.anyio
async def test_result_files_need_no_key_and_the_journal_shows_leaks() -> None:
    """
    Result downloads work without an API key; the journal records whether one was sent.
    """
    emu = Emulator()
    task_id = await _start(emu)
    await wait_until_complete(emu, task_id)
    url = emu.tasks[task_id].images[0]
    async with plain_client(emu, key=None) as anonymous, plain_client(emu) as keyed:
        first = await anonymous.get(url)
        second = await keyed.get(url)
    downloads = [e for e in emu.journal if e.endpoint == "file"]
    assert (200, 200) == (first.status_code, second.status_code)
    assert [None, KEY] == [e.key for e in downloads]
    assert ["apikey" in e.headers for e in downloads] == [False, True]
    assert [task_id, task_id] == [e.task_id for e in downloads]
    assert [None, None] == [e.code for e in downloads]


@pytest.mark.anyio
async def test_results_are_404_before_completion_and_for_unknown_names() -> None:
    """
    A result URL answers 404 before the task is done, and for an index or type it lacks.
    """
    emu = Emulator()
    task_id = await _start(emu)
    base = f"{emu.cdn_origin}/results/{task_id}"
    async with plain_client(emu) as c:
        early = await c.get(f"{base}/0.png")
        await wait_until_complete(emu, task_id)
        statuses = [(await c.get(f"{base}/{name}")).status_code for name in ("1.png", "0.mp4")]
        missing = await c.get(f"{emu.cdn_origin}/results/{'f' * 32}/0.png")
        elsewhere = await c.get(f"{emu.cdn_origin}/robots.txt")
    assert 404 == early.status_code
    assert "application/xml" == early.headers["content-type"]
    assert b"NoSuchKey" in early.content
    assert [404, 404, 404, 404] == [*statuses, missing.status_code, elsewhere.status_code]
    assert "not_found" == emu.journal[-1].outcome


@pytest.mark.anyio
async def test_style_covers_are_served() -> None:
    """
    Every style's ``image`` URL answers a PNG; an unknown cover answers 404.
    """
    emu = Emulator()
    async with plain_client(emu) as c:
        styles = (await c.get(f"{API}/apps/{apps.GROUP_PHOTO}")).json()["data"]["appInfo"]
        covers = [await c.get(s["image"]) for s in styles["styleArr"]]
        missing = await c.get(f"{emu.cdn_origin}/assets/style/cover_image/nope.png")
    assert [("image/png", b"\x89PNG")] * 3 == [
        (r.headers["content-type"], r.content[:4]) for r in covers
    ]
    assert 404 == missing.status_code


@pytest.mark.anyio
async def test_cdn_answers_head_and_refuses_post() -> None:
    """
    HEAD on a cover answers its length without a body; POST answers 405.
    """
    emu = Emulator()
    async with plain_client(emu) as c:
        cover = (await c.get(f"{API}/apps/{apps.FORM}")).json()["data"]["appInfo"]["styleArr"][0]
        head = await c.head(cover["image"])
        get = await c.get(cover["image"])
        post = await c.post(cover["image"])
    assert (200, b"") == (head.status_code, head.content)
    assert str(len(get.content)) == head.headers["content-length"]
    assert 405 == post.status_code


@pytest.mark.anyio
async def test_enhance_charges_three_and_yields_one_picture() -> None:
    """
    Enhancing an upload costs 3 credits and produces one PNG with the source's aspect.
    """
    emu = Emulator(balance=10)
    async with plain_client(emu) as c:
        image = await upload(c, png_bytes(200, 100))
        response = await c.post(f"{API}/images/optimize", json=image)
        task_id = response.json()["data"]["taskId"]
        record = emu.tasks[task_id]
        await wait_until_complete(emu, task_id)
        data = await _query(emu, task_id)
        picture = await c.get(data["images"][0])
    assert 0 == code_of(response)
    assert (7, 3, 0) == (emu.balance(), emu.charged(), emu.generate_calls())
    assert ("optimize", None, 1, 3) == (
        record.kind,
        record.app_id,
        record.generate_num,
        record.cost,
    )
    assert 5 <= record.due_at - record.created_at <= 20
    assert 1 == len(data["images"])
    assert (256, 128) == imagesize.get(io.BytesIO(picture.content))


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body",
    [
        {},
        {"path": "x"},
        {"imageUrl": "x"},
        {"path": 1, "imageUrl": "x"},
        [],
        {"path": "", "imageUrl": ""},
    ],
)
async def test_enhance_without_path_or_image_is_10001(body: Any) -> None:
    """
    Enhance answers 10001 when ``path`` or ``imageUrl`` is missing or not a string.
    """
    async with plain_client(Emulator()) as c:
        response = await c.post(f"{API}/images/optimize", json=body)
    assert 10001 == code_of(response)


@pytest.mark.anyio
async def test_enhance_of_a_foreign_image_is_400004() -> None:
    """
    Enhancing an image another key uploaded, or a made-up one, answers 400004.
    """
    emu = Emulator()
    emu.add_key("other-key")
    async with plain_client(emu, key="other-key") as other, plain_client(emu) as c:
        theirs = await other.post(f"{API}/images/upload", files={"file": ("x.png", png_bytes())})
        foreign = await c.post(f"{API}/images/optimize", json=theirs.json()["data"])
        made_up = await c.post(
            f"{API}/images/optimize", json={"path": "assets/x/", "imageUrl": "y.png"}
        )
    assert (400004, 400004) == (code_of(foreign), code_of(made_up))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("size", "code"),
    [((2048, 2048), 0), ((2049, 10), 400006), ((10, 2049), 400006)],
)
async def test_enhance_limits_images_to_2048_pixels(size: tuple[int, int], code: int) -> None:
    """
    Enhance accepts up to 2048x2048 and answers 400006 when either side is larger.
    """
    emu = Emulator()
    async with plain_client(emu) as c:
        image = await upload(c, png_bytes(*size))
        response = await c.post(f"{API}/images/optimize", json=image)
    assert code == code_of(response)


@pytest.mark.anyio
async def test_enhance_needs_three_credits() -> None:
    """
    With 2 credits, enhance answers 810012 and charges nothing.
    """
    emu = Emulator(balance=2)
    async with plain_client(emu) as c:
        image = await upload(c)
        response = await c.post(f"{API}/images/optimize", json=image)
    assert 810012 == code_of(response)
    assert 2 == emu.balance()


@pytest.mark.anyio
async def test_concurrent_generations_get_distinct_tasks() -> None:
    """
    Twenty concurrent generate calls create twenty distinct tasks and charge twenty credits.
    """
    emu = Emulator()
    ids: list[str] = []
    async with plain_client(emu) as c:
        body = await valid_body(c, apps.FORM)

        async def one() -> None:
            ids.append((await generate(c, body)).json()["data"]["taskId"])

        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(one)
    assert 20 == len(set(ids))
    assert 20 == len(emu.tasks)
    assert sorted(ids) == sorted(emu.tasks)
    assert 20 == emu.charged()


@pytest.mark.anyio
async def test_tasks_view_is_a_read_only_snapshot() -> None:
    """
    ``emu.tasks`` maps ids to records whose state is as of each lookup.
    """
    emu = Emulator()
    task_id = await _start(emu)
    before = emu.tasks[task_id]
    await wait_until_complete(emu, task_id)
    after = emu.tasks[task_id]
    assert (0, ()) == (before.state, before.images)
    assert 10 == after.state
    assert "success" == after.fate
    assert KEY == after.key
    assert [task_id] == list(emu.tasks)
    assert 1 == len(emu.tasks)
    with pytest.raises(TypeError):
        emu.tasks[task_id] = after  # type: ignore[index]
