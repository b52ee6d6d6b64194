"""
High-level generation against the emulator, in virtual time: forms filled by meaning,
checks before any upload, the 324013 resubmit, costs, and saving results.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import anyio
import httpx
import pytest

import a1art_async as a1
from a1art_async._engine._download import download
from a1art_async.testing import Emulator, apps, png_bytes

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


def _endpoints(emulator: Emulator) -> list[str]:
    return [entry.endpoint for entry in emulator.journal]


async def test_generate_by_meaning_and_save(
    client: a1.AsyncClient, emulator: Emulator, tmp_path: Path
) -> None:
    """
    An image, a prompt, a style name and an aspect are enough; the results download as
    PNG files named after the task, without the key reaching the file host.
    """
    async with client:
        handle = await client.generate(
            apps.FORM,
            image=png_bytes(64, 64),
            prompt="black devon rex cat",
            style="High Quality Anmie",
            aspect="16:9",
            count=2,
        )
        task = await handle.result()
        paths = await task.download(tmp_path)
    assert [tmp_path / f"{task.task_id}-0.png", tmp_path / f"{task.task_id}-1.png"] == paths
    assert all(path.read_bytes().startswith(b"\x89PNG") for path in paths)
    assert [] == [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")]
    assert 2 == emulator.charged()
    file_requests = [entry for entry in emulator.journal if entry.endpoint == "file"]
    assert 2 == len(file_requests)
    assert all("apikey" not in entry.headers for entry in file_requests)


async def test_bad_choices_fail_before_any_upload(
    client: a1.AsyncClient, emulator: Emulator
) -> None:
    """
    An unknown style is refused after reading the app and before uploading anything.
    """
    async with client:
        with pytest.raises(a1.ValidationError, match="High Quality Anmie") as caught:
            await client.generate(
                apps.FORM, image=png_bytes(), prompt="cat", style="Oil", aspect="1:1"
            )
    assert "style" == caught.value.field
    assert ["apps"] == _endpoints(emulator)


async def test_app_details_are_cached(client: a1.AsyncClient, emulator: Emulator) -> None:
    """
    Two generations of one app read its details once.
    """
    async with client:
        for _ in range(2):
            await client.generate(
                apps.TEXT, prompt="a lighthouse", style="Seaside Town", aspect="9:16"
            )
    assert 1 == _endpoints(emulator).count("apps")


async def test_republished_app_is_refetched_and_resubmitted_once(
    client: a1.AsyncClient, emulator: Emulator
) -> None:
    """
    After a version bump the cached app is stale: the generate gets 324013, the app is
    read again and the request resubmitted once with the same uploads.
    """
    emulator.faults.version_bump_after = 1
    async with client:
        for _ in range(2):
            handle = await client.generate(
                apps.FORM,
                image=png_bytes(),
                prompt="cat",
                style="High Quality Anmie",
                aspect="1:1",
            )
            await handle.result()
    generates = [entry.code for entry in emulator.journal if entry.endpoint == "generate"]
    assert [0, 324013, 0] == generates
    assert (2, 2, 2) == (
        _endpoints(emulator).count("apps"),
        _endpoints(emulator).count("upload"),
        emulator.generate_calls(),
    )


async def test_group_photo_by_position(client: a1.AsyncClient, emulator: Emulator) -> None:
    """
    A group photo places two images by position and generates.
    """
    async with client:
        app = await client.apps.get(apps.GROUP_PHOTO)
        handle = await client.generate(
            app,
            images={"1": png_bytes(20, 20), "0": png_bytes(30, 30)},
            style=app.styles[0].name,
            aspect="4:3",
        )
        task = await handle.result()
    assert a1.TaskState.COMPLETED is task.state
    assert 2 == _endpoints(emulator).count("upload")


async def test_video_app_costs_ten_and_saves_mp4(
    client: a1.AsyncClient, emulator: Emulator, tmp_path: Path
) -> None:
    """
    The image-to-video app charges 10 credits, as estimated, and its result is an .mp4.
    """
    async with client:
        app = await client.apps.get(apps.VIDEO)
        estimate = await client.estimate_cost(app)
        description = app.forms_of(a1.FormType.DESCRIPTION)[0]
        prompt_key = description.inputs[0].id if description.inputs else description.id
        handle = await client.generate(app, image=png_bytes(), prompts={prompt_key: "waves"})
        # One video per request: the server judges the count, and refuses at no charge.
        with pytest.raises(a1.QuantityError):
            await client.generate(app, image=png_bytes(), prompt="waves", count=2)
        paths = await (await handle.result()).download(tmp_path)
    assert 10 == estimate.high == emulator.charged()
    assert [".mp4"] == [path.suffix for path in paths]


@pytest.mark.parametrize(
    ("app_id", "count", "expected"),
    [(apps.FORM, 3, 3), (apps.TEXT, 2, 2), (apps.NODE, 1, 2), (apps.VIDEO, 1, 10)],
)
async def test_estimates_bound_what_is_charged(
    client: a1.AsyncClient, emulator: Emulator, app_id: str, count: int, expected: int
) -> None:
    """
    What the emulator charges lies within estimate_cost's range for each kind of app,
    and equals it where the estimate is exact (an app without a cost).
    """
    async with client:
        app = await client.apps.get(app_id)
        images = {f.position or f.id: png_bytes() for f in app.forms_of(a1.FormType.CNET)}
        await client.generate(
            app,
            images=images or None,
            prompt="x" if app.forms_of(a1.FormType.DESCRIPTION) else None,
            style=app.styles[0].name if app.forms_of(a1.FormType.STYLE) else None,
            aspect="1:1" if app.forms_of(a1.FormType.SIZE) else None,
            count=count,
        )
        estimate = await client.estimate_cost(app_id, count=count)
    assert expected == emulator.charged()
    assert estimate.low <= expected <= estimate.high
    assert estimate.exact == (app.cost is None)
    assert a1.CostEstimate(3, 3) == await client.estimate_cost(enhances=1)


async def test_expired_result_url_is_a_typed_error(
    client: a1.AsyncClient, emulator: Emulator, tmp_path: Path
) -> None:
    """
    A result URL past its lifetime answers 403, raised as ResultExpiredError.
    """
    emulator.faults.result_ttl = 60
    async with client:
        handle = await client.generate(
            apps.TEXT, prompt="a fox", style="Seaside Town", aspect="1:1"
        )
        task = await handle.result()
        await anyio.sleep(61)
        with pytest.raises(a1.ResultExpiredError) as caught:
            await task.download(tmp_path)
    assert 403 == caught.value.status
    assert [] == list(tmp_path.iterdir())


async def test_downloads_never_leave_the_directory(tmp_path: Path) -> None:
    """
    File names come from the given stem, made safe; the URL's path cannot escape.
    """

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"data", headers={"content-type": "image/png"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        path = await download(http, "https://cdn.example/../../etc/passwd", tmp_path, "../../x")
    assert tmp_path / "x.png" == path
    assert b"data" == path.read_bytes()


async def test_endless_download_is_cut_off_and_cleaned_up(tmp_path: Path) -> None:
    """
    A body larger than allowed stops the download and leaves no partial file.
    """

    async def endless() -> object:
        for _ in range(1000):
            yield b"x" * 65536

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless(), headers={"content-type": "video/mp4"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(a1.DownloadError, match="larger than"):
            await download(http, "https://cdn.example/v.mp4", tmp_path, "v", max_bytes=1_000_000)
    assert [] == list(tmp_path.iterdir())


async def test_transient_download_errors_are_retried(tmp_path: Path) -> None:
    """
    A 503 from the file host is retried; the file is then saved once.
    """
    answers = [503, 503, 200]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            answers.pop(0), content=b"jpeg", headers={"content-type": "image/jpeg"}
        )

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        path = await download(
            http, "https://cdn.example/a", tmp_path, "a", retry=a1.RetryPolicy(initial=0.1)
        )
    assert (tmp_path / "a.jpg", []) == (path, answers)


def test_plain_task_cannot_download() -> None:
    """
    A task built by hand has no client to download with, and says so.
    """
    task = a1.Task(task_id="t", state=a1.TaskState.COMPLETED, images=("https://x/a.png",))
    with pytest.raises(RuntimeError, match="client"):
        anyio.run(task.download, "/tmp")


@pytest.mark.parametrize("umask", [0o022, 0o077])
async def test_saved_results_follow_the_umask(tmp_path: Path, umask: int) -> None:
    """
    A saved result gets the permissions any new file of the user gets: 0666 less the umask.
    """

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"png", headers={"content-type": "image/png"})

    previous = os.umask(umask)
    try:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            path = await download(http, "https://cdn.example/a.png", tmp_path, "a")
    finally:
        os.umask(previous)
    assert 0o666 & ~umask == stat.S_IMODE(path.stat().st_mode)


async def test_concurrent_lookups_of_one_app_share_one_request(
    client: a1.AsyncClient, emulator: Emulator
) -> None:
    """
    A batch of six jobs for one app reads the app's details once, not once per job.
    """
    async with client, client.batch(concurrency=6) as batch:
        for n in range(6):
            batch.add(apps.TEXT, key=f"j{n}", prompt=f"sea {n}", style="Seaside Town", aspect="1:1")
        outcomes = [outcome async for outcome in batch]
    assert all(outcome.ok for outcome in outcomes)
    assert 1 == _endpoints(emulator).count("apps")
