"""
The emulator kit is enough to build an emulator: the toy job API of docs/emulator.md,
taken from the docs as written, runs in process (virtual time, both backends) and over
loopback HTTP, with the journal, fault knobs, admin endpoints and task clock of the kit.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from a1art_async.testing._kit import (
    Answer,
    Call,
    EmulatorBase,
    FaultKnobs,
    Response,
    RouteTable,
    serving,
)

DOCS = Path(__file__).parent.parent / "docs" / "emulator.md"
HEADERS = {"authorization": "Bearer toy-key"}


def _toy_class() -> type[EmulatorBase]:
    """
    The ``Toy`` class exactly as docs/emulator.md shows it.
    """
    found = re.search(r"<!-- kit-example -->\s*```python\n(.*?)```", DOCS.read_text(), re.S)
    assert found is not None
    namespace: dict[str, Any] = {}
    exec(compile(found.group(1), str(DOCS), "exec"), namespace)
    toy: type[EmulatorBase] = namespace["Toy"]
    return toy


Toy = _toy_class()


@pytest.fixture
def toy() -> Any:
    return Toy()


def _client(emulator: Any, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=emulator.transport(),
        base_url=emulator.api_origin,
        headers=headers or HEADERS,
    )


class TestInProcess:
    """
    The toy through its in-process transport, in virtual time.
    """

    @pytest.fixture
    def anyio_backend(self, virtual_backend: object) -> object:
        return virtual_backend

    @pytest.mark.anyio
    async def test_a_job_runs_its_drawn_course(self, toy: Any) -> None:
        """
        A submitted job is queued, then running, then succeeded at its drawn times, and
        the journal names each endpoint and the job it concerned.
        """
        async with _client(toy) as c:
            submitted = await c.post("/v1/jobs")
            job_id = submitted.json()["id"]
            job = toy.jobs[job_id]
            seen = []
            for moment in (job.start_at - 1e-3, job.start_at + 1e-3, job.due_at + 1e-3):
                await anyio.sleep(max(0.0, moment - anyio.current_time()))
                seen.append((await c.get(f"/v1/jobs/{job_id}")).json()["status"])
        assert (201, "job-1") == (submitted.status_code, job_id)
        assert ["queued", "running", "succeeded"] == seen
        assert 5 <= job.due_at - job.created_at <= 20
        assert [("submit", None), ("poll", "job-1"), ("poll", "job-1"), ("poll", "job-1")] == [
            (entry.endpoint, entry.task_id) for entry in toy.journal
        ]
        assert {"ok"} == {entry.outcome for entry in toy.journal}

    @pytest.mark.anyio
    async def test_keys_unknown_paths_and_methods(self, toy: Any) -> None:
        """
        The toy's key check refuses a bad key; no route answers 404, a wrong method 405,
        and the journal records them as error and other.
        """
        async with _client(toy, authorization="Bearer wrong") as c:
            refused = await c.post("/v1/jobs")
        async with _client(toy) as c:
            missing = await c.get("/v1/nothing")
            wrong_method = await c.delete("/v1/jobs")
            no_job = await c.get("/v1/jobs/job-9")
        assert [401, 404, 405, 404] == [
            r.status_code for r in (refused, missing, wrong_method, no_job)
        ]
        assert [("submit", "error"), ("other", "not_found"), ("other", "not_found")] == [
            (entry.endpoint, entry.outcome) for entry in toy.journal[:3]
        ]
        assert ("poll", "job-9") == (toy.journal[3].endpoint, toy.journal[3].task_id)

    @pytest.mark.anyio
    async def test_the_kit_fault_knobs_work_on_the_toy(self) -> None:
        """
        Request-level knobs hit the endpoints they name, the way a1.art's do, and task
        knobs reach the toy's jobs through the task clock.
        """
        toy = Toy(faults=FaultKnobs(task_failure_rate=1.0), time_scale=0.5, seed=1)
        async with _client(toy) as c:
            toy.faults.update({"drop_before_rate": 1.0, "endpoints": ["submit"]})
            with pytest.raises(httpx.ConnectError):
                await c.post("/v1/jobs")
            toy.faults.update({"drop_before_rate": 0.0, "endpoints": None})
            job_id = (await c.post("/v1/jobs")).json()["id"]
            toy.faults.update({"rate_limit": 1.0})
            await c.get(f"/v1/jobs/{job_id}")
            limited = await c.get(f"/v1/jobs/{job_id}")
            toy.faults.update({"rate_limit": None, "server_error_rate": 1.0})
            failing = await c.get(f"/v1/jobs/{job_id}")
            toy.faults.update({"server_error_rate": 0.0, "malformed_json_rate": 1.0})
            cut = await c.get(f"/v1/jobs/{job_id}")
            toy.faults.update({"malformed_json_rate": 0.0})
            await anyio.sleep(20)
            ended = (await c.get(f"/v1/jobs/{job_id}")).json()["status"]
        assert (429, "1") == (limited.status_code, limited.headers["retry-after"])
        assert 500 == failing.status_code
        with pytest.raises(ValueError, match="line 1 column"):
            cut.json()
        assert "failed" == ended
        assert 10 * 0.5 * 0.5 <= toy.jobs[job_id].due_at - toy.jobs[job_id].created_at <= 10
        outcomes = [entry.outcome for entry in toy.journal]
        assert ["dropped_before", "ok", "ok", "rate_limited", "server_error", "malformed"] == (
            outcomes[:6]
        )

    @pytest.mark.anyio
    async def test_an_answer_may_take_its_own_time(self) -> None:
        """
        A handler's ``Answer(delay=...)`` holds its answer back after the state changed,
        on top of the latency knob; past the client's read timeout the client sees a
        read timeout, and the journal says so.
        """

        class Slow(Toy):  # type: ignore[valid-type,misc]
            routes = RouteTable("/v1")

            @routes.post("/jobs", endpoint="submit")
            def submit(self, call: Call) -> Answer:
                self.jobs["job-1"] = self.task_clock.plan(call.now, 1.0, self.faults)
                return Answer(Response.json(200, {"id": "job-1"}), delay=30.0)

        slow = Slow()
        slow.faults.latency = 2.0
        async with _client(slow) as c:
            started = anyio.current_time()
            answered = await c.post("/v1/jobs", timeout=httpx.Timeout(5.0, read=60.0))
            took = anyio.current_time() - started
            with pytest.raises(httpx.ReadTimeout):
                await c.post("/v1/jobs", timeout=httpx.Timeout(5.0, read=10.0))
            timed_out = anyio.current_time() - started - took
        assert (200, 32.0) == (answered.status_code, pytest.approx(took, abs=1e-3))
        assert 10.0 == pytest.approx(timed_out, abs=1e-3)
        assert ["ok", "timeout"] == [entry.outcome for entry in slow.journal]


@pytest.mark.anyio
async def test_the_toy_serves_over_loopback_http() -> None:
    """
    Served on loopback by the kit, the toy runs a job over real HTTP and answers the
    admin endpoints: journal, stats and fault knobs.
    """
    with serving(lambda api, files: Toy(api, file_origins=[files], time_scale=0.001)) as toy:
        assert toy.api_origin.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(base_url=toy.api_origin, headers=HEADERS) as c:
            job_id = (await c.post("/v1/jobs")).json()["id"]
            with anyio.fail_after(10):
                while (await c.get(f"/v1/jobs/{job_id}")).json()["status"] != "succeeded":  # noqa: ASYNC110 - polling is what a client of a job API does
                    await anyio.sleep(0.005)
            knobs = await c.post("/_emulator/faults", json={"server_error_rate": 1.0})
            failing = await c.get(f"/v1/jobs/{job_id}")
            bad_knob = await c.post("/_emulator/faults", json={"no_such_knob": 1})
            journal = (await c.get("/_emulator/journal")).json()
            stats = (await c.get("/_emulator/stats")).json()
            unknown = await c.get("/_emulator/nothing")
    assert 1.0 == knobs.json()["server_error_rate"]
    assert (500, 400, 404) == (failing.status_code, bad_knob.status_code, unknown.status_code)
    assert "submit" == journal[0]["endpoint"]
    assert ("poll", "server_error") == (journal[-1]["endpoint"], journal[-1]["outcome"])
    assert {"requests": len(journal)} == stats
