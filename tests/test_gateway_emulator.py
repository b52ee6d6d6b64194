"""
The gateway emulator, spoken to with plain httpx: the documented envelope and error
bodies word for word, the checks of a generation request, synchronous answers after
their run time, tasks on the clock in their vendors' shapes, result files, faults, the
admin endpoints, and the loopback server.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest

import a1art_async.testing.gateway as emulation
from a1art_async.testing.gateway import Emulator, Faults, models

KEY = "emu-key"
AUTH = {"authorization": f"Bearer {KEY}"}
GENERATIONS = "/api/v1/images/generations"

#: The docs' own examples.
INVALID = {"success": False, "code": "400", "message": "Invalid request parameters"}
UNAUTHORIZED = {"success": False, "code": "401", "message": "Unauthorized"}
LIMITED = {"success": False, "code": "429", "message": "Rate limit exceeded"}


@asynccontextmanager
async def _http(emulator: Emulator, **headers: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=emulator.transport(),
        base_url=emulator.api_origin,
        headers=headers or AUTH,
        timeout=httpx.Timeout(10.0, read=600.0),
    ) as client:
        yield client


def test_the_public_names_are_exactly_these() -> None:
    """
    ``a1art_async.testing.gateway.__all__`` is sorted and lists every public name.
    """
    public = {name for name in dir(emulation) if not name.startswith("_")} - {"annotations"}
    assert sorted(emulation.__all__) == emulation.__all__
    assert public == set(emulation.__all__)


class TestInProcess:
    """
    In process, on virtual time.
    """

    @pytest.fixture
    def anyio_backend(self, virtual_backend: object) -> object:
        return virtual_backend

    @pytest.fixture
    def emulator(self) -> Emulator:
        return Emulator(KEY, seed=5)

    @pytest.mark.anyio
    async def test_the_documented_error_bodies_word_for_word(self, emulator: Emulator) -> None:
        """
        400, 401 and 429 answer exactly the docs' examples, on those HTTP statuses,
        429 with ``Retry-After``.
        """
        emulator.faults.rate_limit = 0.5
        async with _http(emulator) as c:
            invalid = await c.post(GENERATIONS, json={"prompt": "no model"})
            await c.post(GENERATIONS, json={"model": models.FLUX, "prompt": "x"})
            limited = await c.post(GENERATIONS, json={"model": models.FLUX, "prompt": "x"})
        async with _http(emulator, authorization="Bearer wrong") as c:
            unauthorized = await c.post(GENERATIONS, json={"model": models.FLUX, "prompt": "x"})
        async with _http(emulator, accept="*/*") as c:
            anonymous = await c.get("/api/v1/tasks/x")
        assert [(400, INVALID), (429, LIMITED), (401, UNAUTHORIZED), (401, UNAUTHORIZED)] == [
            (r.status_code, r.json()) for r in (invalid, limited, unauthorized, anonymous)
        ]
        assert "2" == limited.headers["retry-after"]

    @pytest.mark.anyio
    async def test_a_success_is_the_documented_envelope(self, emulator: Emulator) -> None:
        """
        Success answers HTTP 200 with ``success``, the string code ``"200"``,
        "successful" and the data; the journal records the code as a number.
        """
        async with _http(emulator) as c:
            answer = await c.post(GENERATIONS, json={"model": models.FLUX, "prompt": "x"})
        body = answer.json()
        assert (True, "200", "successful") == (body["success"], body["code"], body["message"])
        assert {"task_id", "status"} == set(body["data"])
        assert (200, "ok", "generations") == (
            emulator.journal[0].code,
            emulator.journal[0].outcome,
            emulator.journal[0].endpoint,
        )

    @pytest.mark.anyio
    @pytest.mark.parametrize(
        "body",
        [
            b"not json",
            b"[1, 2]",
            {"prompt": "x"},
            {"model": 7, "prompt": "x"},
            {"model": "unknown-model", "prompt": "x"},
            {"model": models.FLUX},
            {"model": models.FLUX, "prompt": "   "},
            {"model": models.WANX, "input": {"text": "x"}},
            {"model": models.FLUX, "prompt": "x", "n": 5},
            {"model": models.FLUX, "prompt": "x", "n": True},
            {"model": models.WANX, "input": {"prompt": "x"}, "parameters": {"n": 0}},
            {"model": models.FLUX, "prompt": "x", "size": "big"},
            {"model": models.DALL_E, "prompt": "x", "response_format": "png"},
            {"model": models.GPT_IMAGE, "prompt": "x", "response_format": "url"},
            {"model": models.JIMENG, "prompt": "x", "return_url": "yes"},
        ],
    )
    async def test_bad_requests_answer_400_and_cost_nothing(
        self, emulator: Emulator, body: Any
    ) -> None:
        """
        Each refused parameter answers the documented 400, and nothing is charged.
        """
        async with _http(emulator) as c:
            if isinstance(body, bytes):
                answer = await c.post(GENERATIONS, content=body)
            else:
                answer = await c.post(GENERATIONS, json=body)
        assert (400, INVALID, 0) == (answer.status_code, answer.json(), emulator.charged())

    @pytest.mark.anyio
    async def test_a_synchronous_model_answers_after_its_run_time(self, emulator: Emulator) -> None:
        """
        A synchronous model is charged on arrival and answers its images once drawn;
        the ``X-Async`` header changes nothing.
        """
        async with _http(emulator) as c:
            started = anyio.current_time()
            answer = await c.post(
                GENERATIONS,
                json={"model": models.SEEDREAM, "prompt": "x", "n": 2},
                headers={"x-async": "true"},
            )
            took = anyio.current_time() - started
        entry = emulator.journal[0]
        record = emulator.generations[entry.task_id or ""]
        data = answer.json()["data"]
        assert took == pytest.approx(record.complete_at - record.created_at, abs=1e-6)
        assert 4.0 <= took <= 16.0
        assert (models.SEEDREAM, 2) == (data["model"], len(data["data"]))
        assert {"url", "size"} == set(data["data"][0])
        assert (True, 1, 1) == (record.synchronous, record.credits, emulator.charged())

    @pytest.mark.anyio
    async def test_base64_answers_hold_the_served_pictures(self, emulator: Emulator) -> None:
        """
        ``b64_json`` and Volcano's ``binary_data_base64`` carry PNG pictures, the same
        bytes the file host serves for the same image.
        """
        async with _http(emulator) as c:
            openai = await c.post(
                GENERATIONS,
                json={"model": models.DALL_E, "prompt": "x", "response_format": "b64_json"},
            )
            visual = await c.post(
                GENERATIONS, json={"model": models.JIMENG, "prompt": "y", "return_url": True}
            )
            inner = visual.json()["data"]["data"]
            served = await c.get(inner["image_urls"][0])
        picture = base64.b64decode(openai.json()["data"]["data"][0]["b64_json"])
        assert picture.startswith(b"\x89PNG")
        assert served.content == base64.b64decode(inner["binary_data_base64"][0])
        assert (10000, 10000) == (visual.json()["data"]["code"], visual.json()["data"]["status"])

    @pytest.mark.anyio
    @pytest.mark.parametrize(
        ("model", "path", "words"),
        [
            (models.WANX, ("output", "task_status"), ["PENDING", "RUNNING", "SUCCEEDED"]),
            (models.FLUX, ("status",), ["queued", "processing", "succeeded"]),
            (models.KOLORS, ("state",), ["SUBMITTED", "IN_PROGRESS", "COMPLETED"]),
        ],
    )
    async def test_tasks_move_on_the_clock_in_their_vendors_words(
        self, emulator: Emulator, model: str, path: tuple[str, ...], words: list[str]
    ) -> None:
        """
        An asynchronous task is queued, running, then succeeded at its drawn times, each
        state spelled as its vendor spells it, with result URLs at the end.
        """
        async with _http(emulator) as c:
            body = {"model": model, "prompt": "x"}
            submitted = (await c.post(GENERATIONS, json=body)).json()["data"]
            task_id = emulator.journal[0].task_id or ""
            record = emulator.generations[task_id]
            seen = []
            for moment in (record.created_at + 1e-3, record.complete_at - 1e-3):
                await anyio.sleep(max(0.0, moment - anyio.current_time()))
                seen.append((await c.get(f"/api/v1/tasks/{task_id}")).json()["data"])
            await anyio.sleep(record.complete_at + 1e-3 - anyio.current_time())
            seen.append((await c.get(f"/api/v1/tasks/{task_id}")).json()["data"])

        def at(data: dict[str, Any]) -> Any:
            for key in path:
                data = data[key]
            return data

        assert task_id in str(submitted)
        assert words == [at(data) for data in seen]
        assert emulator.files_origin in str(seen[2])

    @pytest.mark.anyio
    async def test_tasks_are_private_to_their_key(self, emulator: Emulator) -> None:
        """
        Another key's task, an unknown id and a synchronous answer's id all answer 400.
        """
        emulator.add_key("other")
        async with _http(emulator) as c:
            await c.post(GENERATIONS, json={"model": models.FLUX, "prompt": "x"})
            await c.post(GENERATIONS, json={"model": models.SEEDREAM, "prompt": "x"})
        task_id, answer_id = (entry.task_id for entry in emulator.journal)
        async with _http(emulator, authorization="Bearer other") as c:
            foreign = await c.get(f"/api/v1/tasks/{task_id}")
        async with _http(emulator) as c:
            unknown = await c.get("/api/v1/tasks/nope")
            answered = await c.get(f"/api/v1/tasks/{answer_id}")
        assert [INVALID] * 3 == [r.json() for r in (foreign, unknown, answered)]

    @pytest.mark.anyio
    async def test_a_slow_synchronous_answer_is_charged_then_times_out(
        self, emulator: Emulator
    ) -> None:
        """
        With ``sync_latency`` past the client's read timeout, the generation is charged
        and the client gets a read timeout; the journal says ``timeout``.
        """
        emulator.faults.sync_latency = 100.0
        async with _http(emulator) as c:
            with pytest.raises(httpx.ReadTimeout):
                await c.post(
                    GENERATIONS,
                    json={"model": models.GPT_IMAGE, "prompt": "x"},
                    timeout=httpx.Timeout(10.0, read=60.0),
                )
        assert (2, "timeout") == (emulator.charged(), emulator.journal[0].outcome)

    @pytest.mark.anyio
    async def test_task_knobs_fail_stick_and_misspell_tasks(self, emulator: Emulator) -> None:
        """
        Failing tasks say so with a vendor error; stuck ones run forever; odd ones run
        in a state word no usual spelling covers.
        """
        async with _http(emulator) as c:

            async def one(knob: str) -> str:
                emulator.faults = Faults(**{knob: 1.0})
                await c.post(GENERATIONS, json={"model": models.FLUX, "prompt": knob})
                return emulator.journal[-1].task_id or ""

            failing, stuck, odd = [
                await one(knob)
                for knob in ("task_failure_rate", "task_stuck_rate", "unknown_state_rate")
            ]
            await anyio.sleep(100)
            states = [
                (await c.get(f"/api/v1/tasks/{task_id}")).json()["data"]
                for task_id in (failing, stuck, odd)
            ]
        assert ["failed", "processing", "succeeded"] == [s["status"] for s in states]
        assert {"code": "generation_failed", "message": "the generation failed"} == states[0][
            "error"
        ]
        assert emulator.complete_at(stuck) == float("inf")
        emulator.faults = Faults(unknown_state_rate=1.0)
        async with _http(emulator) as c:
            await c.post(GENERATIONS, json={"model": models.FLUX, "prompt": "late"})
            task_id = emulator.journal[-1].task_id or ""
            await anyio.sleep(emulator.generations[task_id].created_at + 5 - anyio.current_time())
            running = (await c.get(f"/api/v1/tasks/{task_id}")).json()["data"]["status"]
        assert "stalled" == running

    @pytest.mark.anyio
    async def test_bailian_forgets_tasks_after_a_day(self, emulator: Emulator) -> None:
        """
        A Bailian-style task answers ``UNKNOWN`` 24 hours after it was created; a
        generic task is still there.
        """
        async with _http(emulator) as c:
            await c.post(GENERATIONS, json={"model": models.WANX, "input": {"prompt": "x"}})
            await c.post(GENERATIONS, json={"model": models.FLUX, "prompt": "x"})
            bailian, generic = (entry.task_id for entry in emulator.journal)
            await anyio.sleep(24 * 3600 + 1)
            forgotten = (await c.get(f"/api/v1/tasks/{bailian}")).json()["data"]
            kept = (await c.get(f"/api/v1/tasks/{generic}")).json()["data"]
        assert {"task_id": bailian, "task_status": "UNKNOWN"} == forgotten["output"]
        assert "succeeded" == kept["status"]

    @pytest.mark.anyio
    async def test_result_files_are_served_once_ready_and_may_expire(
        self, emulator: Emulator
    ) -> None:
        """
        A result URL answers 404 before the task succeeded, the picture after (GET and
        HEAD, no key needed), and 403 once ``result_ttl`` has passed.
        """
        emulator.faults.result_ttl = 60.0
        async with _http(emulator) as c:
            await c.post(GENERATIONS, json={"model": models.FLUX, "prompt": "x", "n": 2})
            task_id = emulator.journal[0].task_id or ""
            url = f"{emulator.files_origin}/results/{task_id}/1.png"
            early = await c.get(url)
            await anyio.sleep(emulator.complete_at(task_id) + 1 - anyio.current_time())
        async with httpx.AsyncClient(transport=emulator.transport()) as anonymous:
            ready = await anonymous.get(url)
            head = await anonymous.head(url)
            beyond = await anonymous.get(f"{emulator.files_origin}/results/{task_id}/2.png")
            await anyio.sleep(61)
            expired = await anonymous.get(url)
        assert [404, 200, 200, 404, 403] == [
            r.status_code for r in (early, ready, head, beyond, expired)
        ]
        assert ready.content.startswith(b"\x89PNG")
        assert head.headers["content-length"] == str(len(ready.content))

    @pytest.mark.anyio
    async def test_unknown_paths_answer_in_the_envelope(self, emulator: Emulator) -> None:
        """
        A path no route takes answers 404 in the envelope, a wrong method 405.
        """
        async with _http(emulator) as c:
            missing = await c.get("/api/v2/models")
            method = await c.get(GENERATIONS)
        assert [(404, "404", "Not Found"), (405, "405", "Method Not Allowed")] == [
            (r.status_code, r.json()["code"], r.json()["message"]) for r in (missing, method)
        ]

    def test_the_knobs_are_checked(self) -> None:
        """
        The gateway's knobs refuse values out of range and endpoint names it lacks.
        """
        faults = Faults()
        for name, value in (
            ("sync_latency", -1),
            ("unknown_state_rate", 2),
            ("task_ttl", 0),
            ("endpoints", ["generate"]),
        ):
            with pytest.raises(
                ValueError, match=r"sync_latency|unknown_state_rate|task_ttl|generate"
            ):
                faults.update({name: value})
        faults.update({"endpoints": ["generations", "tasks", "file"]})
        assert Faults(endpoints=["generations", "tasks", "file"]) == faults

    def test_prices_are_the_catalogs(self) -> None:
        """
        ``prices()`` names every model of the catalog with its credits.
        """
        assert {name: model.credits for name, model in emulation.CATALOG.items()} == (
            Emulator.prices()
        )
        assert set(models.SYNCHRONOUS) | set(models.ASYNCHRONOUS) == set(emulation.CATALOG)


class TestAdmin:
    """
    The admin endpoints, through the ASGI app.
    """

    @pytest.fixture
    def anyio_backend(self) -> str:
        return "asyncio"

    @pytest.mark.anyio
    async def test_stats_keys_and_faults_over_asgi(self) -> None:
        """
        ``/_emulator/stats`` counts charges per key, ``/_emulator/keys`` adds a key and
        ``/_emulator/faults`` sets the gateway's own knobs.
        """
        emulator = Emulator(KEY, time_scale=0.001)
        transport = httpx.ASGITransport(app=emulator.asgi_app())
        async with httpx.AsyncClient(transport=transport, base_url=emulator.api_origin) as c:
            added = await c.post("/_emulator/keys", json={"key": "second"})
            knobs = await c.post("/_emulator/faults", json={"task_ttl": 5.0})
            await c.post(
                GENERATIONS,
                json={"model": models.GPT_IMAGE, "prompt": "x"},
                headers={"authorization": "Bearer second"},
            )
            stats = (await c.get("/_emulator/stats")).json()
        assert 200 == added.status_code
        assert 5.0 == knobs.json()["task_ttl"]
        assert {"generations": 1, "charged": 2, "tasks": 0} == {
            k: stats[k] for k in ("generations", "charged", "tasks")
        }
        assert {"charged": 2, "generations": 1} == stats["keys"]["second"]


@pytest.mark.anyio
async def test_the_emulator_serves_over_loopback() -> None:
    """
    ``python -m a1art_async.testing.gateway serve`` prints its origins and key, then
    answers over real HTTP until it is stopped.
    """
    command = [
        sys.executable,
        "-m",
        "a1art_async.testing.gateway",
        "serve",
        "--time-scale",
        "0.001",
        "--api-key",
        "loop-key",
    ]
    process = await anyio.open_process(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    async with process:
        try:
            assert process.stdout is not None
            text = ""
            with anyio.fail_after(20):
                while text.count("\n") < 3:
                    text += (await process.stdout.receive()).decode()
            banner = dict(line.split("=", 1) for line in text.splitlines())
            headers = {"authorization": "Bearer loop-key"}
            async with httpx.AsyncClient(base_url=banner["base_url"], headers=headers) as c:
                answer = await c.post(GENERATIONS, json={"model": models.SEEDREAM, "prompt": "x"})
                url = answer.json()["data"]["data"][0]["url"]
                picture = await c.get(url)
        finally:
            process.terminate()
            with anyio.fail_after(15):
                await process.wait()
    assert ["base_url", "cdn_url", "api_key"] == list(banner)
    assert "loop-key" == banner["api_key"]
    assert url.startswith(banner["cdn_url"])
    assert (200, b"\x89PNG") == (picture.status_code, picture.content[:4])
    assert 0 == process.returncode


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_a_bad_knob_is_a_usage_error() -> None:
    """
    An unknown ``--fault`` knob exits with status 2 and one line.
    """
    done = subprocess.run(
        [sys.executable, "-m", "a1art_async.testing.gateway", "serve", "--fault", "nope=1"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert 2 == done.returncode
    assert "nope" in done.stderr
