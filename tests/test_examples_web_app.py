"""
examples/web_app.py: the Starlette service, driven through its ASGI interface against
the in-process emulator, in virtual time on both backends.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

from a1art_async import AsyncClient, PollPolicy
from a1art_async.testing import Emulator, apps, png_bytes

from ._examples import EXAMPLES, load_example

EXAMPLE = EXAMPLES / "web_app.py"
KEY = "web-test-key"


web_app = load_example("web_app")


@pytest.fixture
def anyio_backend(virtual_backend: Any) -> Any:
    return virtual_backend


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(api_key=KEY, balance=1000, seed=3)


def _service(emulator: Emulator, *, wait_seconds: float = 120.0) -> Any:
    def factory() -> AsyncClient:
        return AsyncClient(api_key=KEY, transport=emulator.transport(), poll_policy=PollPolicy())

    return web_app.create_app(factory, wait_seconds=wait_seconds)


@asynccontextmanager
async def _http(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
            yield http


FORM = {"prompt": "black devon rex cat", "style": "Watercolor", "aspect": "16:9"}


def _files() -> dict[str, Any]:
    return {"image": ("pet.png", png_bytes(512, 512), "image/png")}


@pytest.mark.anyio
async def test_generate_waits_and_answers_the_result_urls(emulator: Emulator) -> None:
    """
    POST /generate uploads the picture, generates and answers 200 with the result URLs.
    """
    async with _http(_service(emulator)) as http:
        response = await http.post("/generate", data=FORM, files=_files())
    assert 200 == response.status_code, response.text
    body = response.json()
    assert "completed" == body["state"]
    assert 1 == len(body["images"])
    assert 1 == emulator.generate_calls()
    assert apps.FORM == emulator.tasks[body["task_id"]].app_id


@pytest.mark.anyio
async def test_a_slow_task_answers_a_token_that_status_resumes(emulator: Emulator) -> None:
    """
    When the wait runs out, /generate answers 202 with a token, and /status with that
    token later reports the completed task.
    """
    async with _http(_service(emulator, wait_seconds=3.0)) as http:
        response = await http.post("/generate", data=FORM, files=_files())
        assert 202 == response.status_code, response.text
        token = response.json()["token"]
        early = (await http.get("/status", params={"token": token})).json()
        await anyio.sleep(60)
        late = (await http.get("/status", params={"token": token})).json()
    assert early["state"] in ("submitted", "running")
    assert "completed" == late["state"]
    assert 1 == len(late["images"])
    assert 1 == emulator.generate_calls()


@pytest.mark.anyio
async def test_submit_answers_at_once_and_status_follows_the_task(emulator: Emulator) -> None:
    """
    POST /submit answers 202 with a token before the task runs; /status tracks it to the end.
    """
    async with _http(_service(emulator)) as http:
        started = anyio.current_time()
        response = await http.post("/submit", data=FORM, files=_files())
        answered = anyio.current_time() - started
        token = response.json()["token"]
        states = []
        for _ in range(30):
            states.append((await http.get("/status", params={"token": token})).json()["state"])
            if states[-1] == "completed":
                break
            await anyio.sleep(5)
    assert 202 == response.status_code
    assert answered < 1.0
    assert "completed" == states[-1]
    assert "running" in states


@pytest.mark.anyio
async def test_bad_input_and_refusals_map_to_http_statuses(emulator: Emulator) -> None:
    """
    A style the app does not have answers 422 naming the choices, a garbage token 400, and
    an empty balance 402 with the API's code and both messages.
    """
    async with _http(_service(emulator)) as http:
        bad_style = await http.post("/generate", data={**FORM, "style": "Oil"}, files=_files())
        no_image = await http.post("/generate", data=FORM)
        bad_token = await http.get("/status", params={"token": "nonsense"})
        emulator.set_balance(KEY, 0)
        broke = await http.post("/generate", data=FORM, files=_files())
    assert 422 == bad_style.status_code
    assert "Watercolor" in bad_style.json()["error"]
    assert 422 == no_image.status_code
    assert 400 == bad_token.status_code
    assert 402 == broke.status_code
    assert 810012 == broke.json()["code"]
    assert broke.json()["msg"]
    assert broke.json()["msg_cn"]
    assert 0 == emulator.generate_calls()


@pytest.mark.anyio
async def test_concurrent_requests_share_one_client(emulator: Emulator) -> None:
    """
    Twenty concurrent /generate requests all complete through the app's single client.
    """
    statuses: list[int] = []
    async with _http(_service(emulator)) as http:

        async def one() -> None:
            statuses.append((await http.post("/generate", data=FORM, files=_files())).status_code)

        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(one)
    assert [200] * 20 == statuses
    assert 20 == emulator.generate_calls()


def test_the_service_runs_as_a_user_runs_it() -> None:
    """
    ``python examples/web_app.py --emulator --port 0`` serves over loopback HTTP, and a
    multipart POST /generate answers the result URL.
    """
    with subprocess.Popen(
        [sys.executable, str(EXAMPLE), "--emulator", "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stderr is not None
            origin = None
            for line in process.stderr:
                if found := re.search(r"running on (http://127\.0\.0\.1:\d+)", line):
                    origin = found[1]
                    break
            assert origin is not None
            response = httpx.post(f"{origin}/generate", data=FORM, files=_files(), timeout=30)
        finally:
            process.terminate()
            process.communicate(timeout=15)
    assert 200 == response.status_code, response.text
    assert "completed" == response.json()["state"]
