"""
Every fault knob: what the client sees, and whether the server acted.
"""

from __future__ import annotations

import json
import math

import anyio
import httpx
import pytest

from a1art_async.testing import Emulator, Faults, apps

from .test_emulator_support import (
    API,
    code_of,
    generate,
    plain_client,
    sleep_until,
    text_form,
    valid_body,
    wait_until_complete,
)

APP = f"{API}/apps/{apps.FORM}"


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


# -- rate limit ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_rate_limit_allows_a_burst_then_answers_20000() -> None:
    """
    At 2 requests/s a key gets a burst of 2, then 20000 until the bucket refills.
    """
    emu = Emulator(faults=Faults(rate_limit=2))
    async with plain_client(emu) as c:
        burst = [code_of(await c.get(APP)) for _ in range(3)]
        await anyio.sleep(0.5)
        refilled = code_of(await c.get(APP))
    assert [0, 0, 20000] == burst
    assert 0 == refilled
    assert ["ok", "ok", "rate_limited", "ok"] == [e.outcome for e in emu.journal]
    assert [200] * 4 == [e.status for e in emu.journal]


@pytest.mark.anyio
async def test_rate_limit_is_per_key() -> None:
    """
    One key exhausting its bucket does not limit another key.
    """
    emu = Emulator(faults=Faults(rate_limit=1))
    emu.add_key("other-key")
    async with plain_client(emu) as c, plain_client(emu, key="other-key") as other:
        first = [code_of(await c.get(APP)) for _ in range(2)]
        second = code_of(await other.get(APP))
    assert [0, 20000, 0] == [*first, second]


@pytest.mark.anyio
async def test_rate_limit_can_answer_http_429_with_retry_after() -> None:
    """
    With ``rate_limit_http_429`` the refusal is HTTP 429 with a whole-second Retry-After.
    """
    emu = Emulator(faults=Faults(rate_limit=0.1, rate_limit_http_429=True))
    async with plain_client(emu) as c:
        await c.get(APP)
        limited = await c.get(APP)
    assert 429 == limited.status_code
    assert "10" == limited.headers["retry-after"]
    assert 20000 == code_of(limited)
    assert ("too may request", "接口访问触发限流") == (
        limited.json()["msg"],
        limited.json()["msg_cn"],
    )


@pytest.mark.anyio
async def test_authentication_comes_before_the_rate_limit() -> None:
    """
    A request without a key answers 10410 even when the rate limit would refuse it.
    """
    emu = Emulator(faults=Faults(rate_limit=1))
    async with plain_client(emu, key=None) as c:
        codes = [code_of(await c.get(APP)) for _ in range(3)]
    assert [10410, 10410, 10410] == codes


# -- server errors ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_server_errors_answer_20002_or_20003_and_process_nothing() -> None:
    """
    ``server_error_rate=1`` answers 20002 or 20003 (both occur) and creates no task.
    """
    emu = Emulator()
    async with plain_client(emu) as c:
        body = await valid_body(c, apps.FORM)
        emu.faults.server_error_rate = 1.0
        codes = {code_of(await generate(c, body)) for _ in range(20)}
    assert {20002, 20003} == codes
    assert (0, 0, 1000) == (len(emu.tasks), emu.charged(), emu.balance())
    assert "server_error" == emu.journal[-1].outcome


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "title"), [(502, "502 Bad Gateway"), (503, "503 Service Unavailable")]
)
async def test_gateway_errors_are_html_and_process_nothing(status: int, title: str) -> None:
    """
    ``http_5xx_rate=1`` answers an HTML error page with the chosen status; nothing happens.
    """
    emu = Emulator()
    async with plain_client(emu) as c:
        body = await valid_body(c, apps.FORM)
        emu.faults.http_5xx_rate = 1.0
        emu.faults.http_5xx_status = status
        response = await generate(c, body)
    assert status == response.status_code
    assert response.headers["content-type"].startswith("text/html")
    assert f"<title>{title}</title>" in response.text
    assert (0, None, "http_5xx") == (len(emu.tasks), emu.journal[-1].code, emu.journal[-1].outcome)


@pytest.mark.anyio
async def test_gateway_errors_come_before_authentication() -> None:
    """
    A gateway error page answers even a request without a key.
    """
    emu = Emulator(faults=Faults(http_5xx_rate=1.0))
    async with plain_client(emu, key=None) as c:
        response = await c.get(APP)
    assert 502 == response.status_code


@pytest.mark.anyio
async def test_malformed_json_is_processed_but_truncated() -> None:
    """
    ``malformed_json_rate=1`` processes the request, then sends truncated JSON with 200.
    """
    emu = Emulator()
    async with plain_client(emu) as c:
        body = await valid_body(c, apps.FORM)
        emu.faults.malformed_json_rate = 1.0
        response = await generate(c, body)
    assert 200 == response.status_code
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert (1, 1) == (len(emu.tasks), emu.charged())
    assert ("malformed", 0) == (emu.journal[-1].outcome, emu.journal[-1].code)


# -- connection drops and latency ---------------------------------------------------------


@pytest.mark.anyio
async def test_drop_before_raises_connect_error_and_processes_nothing() -> None:
    """
    ``drop_before_rate=1`` raises ``httpx.ConnectError``; no credit is charged.
    """
    emu = Emulator()
    async with plain_client(emu) as c:
        body = await valid_body(c, apps.FORM)
        emu.faults.drop_before_rate = 1.0
        with pytest.raises(httpx.ConnectError):
            await generate(c, body)
    entry = emu.journal[-1]
    assert (0, 0) == (len(emu.tasks), emu.charged())
    assert ("dropped_before", 0, None, None) == (
        entry.outcome,
        entry.status,
        entry.code,
        entry.task_id,
    )


@pytest.mark.anyio
async def test_drop_after_raises_remote_protocol_error_after_acting() -> None:
    """
    ``drop_after_rate=1`` charges and creates the task, then the connection drops.
    """
    emu = Emulator()
    async with plain_client(emu) as c:
        body = await valid_body(c, apps.FORM)
        emu.faults.drop_after_rate = 1.0
        with pytest.raises(httpx.RemoteProtocolError, match="Server disconnected"):
            await generate(c, body)
    entry = emu.journal[-1]
    assert (1, 1) == (len(emu.tasks), emu.charged())
    assert ("dropped_after", 0, None) == (entry.outcome, entry.status, entry.code)
    assert next(iter(emu.tasks)) == entry.task_id


@pytest.mark.anyio
async def test_latency_delays_every_answer() -> None:
    """
    ``latency=2.5`` makes an answer take exactly 2.5 s of clock time.
    """
    emu = Emulator(faults=Faults(latency=2.5))
    async with plain_client(emu) as c:
        start = anyio.current_time()
        response = await c.get(APP)
        elapsed = anyio.current_time() - start
    assert 0 == code_of(response)
    assert 2.5 == pytest.approx(elapsed, abs=1e-6)
    assert start == pytest.approx(emu.journal[-1].time, abs=1e-6)


@pytest.mark.anyio
async def test_latency_beyond_the_read_timeout_times_out_after_acting() -> None:
    """
    A read timeout shorter than the latency raises ``httpx.ReadTimeout`` at the timeout,
    after the server created the task.
    """
    emu = Emulator()
    async with plain_client(emu, timeout=httpx.Timeout(5.0, read=1.0)) as c:
        body = await valid_body(c, apps.FORM)
        emu.faults.latency = 30.0
        start = anyio.current_time()
        with pytest.raises(httpx.ReadTimeout):
            await generate(c, body)
        elapsed = anyio.current_time() - start
    assert 1.0 == pytest.approx(elapsed, abs=1e-6)
    assert (1, "timeout", 200, 0) == (
        len(emu.tasks),
        emu.journal[-1].outcome,
        emu.journal[-1].status,
        emu.journal[-1].code,
    )


@pytest.mark.anyio
async def test_latency_without_a_read_timeout_waits_it_out() -> None:
    """
    A client without a read timeout waits the whole latency and gets the answer.
    """
    emu = Emulator(faults=Faults(latency=120.0))
    async with plain_client(emu, timeout=None) as c:
        response = await c.get(APP)
    assert 0 == code_of(response)


# -- versions and task fates --------------------------------------------------------------


@pytest.mark.anyio
async def test_version_bump_after_republishes_every_n_generations() -> None:
    """
    ``version_bump_after=2`` retires the versionId after two generations (then 324013).
    """
    emu = Emulator(faults=Faults(version_bump_after=2))
    async with plain_client(emu) as c:
        body = await valid_body(c, apps.FORM)
        codes = [code_of(await generate(c, body)) for _ in range(3)]
        fresh = (await c.get(APP)).json()["data"]["appInfo"]["versionId"]
        again = code_of(await generate(c, {**body, "versionId": fresh}))
    assert [0, 0, 324013] == codes
    assert 0 == again
    assert fresh != body["versionId"]


@pytest.mark.anyio
async def test_failed_tasks_end_in_state_20_without_images() -> None:
    """
    ``task_failure_rate=1`` tasks run, then report state 20 with a finishDate and no images.
    """
    emu = Emulator(faults=Faults(task_failure_rate=1.0))
    async with plain_client(emu) as c:
        task_id = (await generate(c, await valid_body(c, apps.FORM))).json()["data"]["taskId"]
        await sleep_until(emu.tasks[task_id].start_at + 1e-6)
        running = (await c.get(f"{API}/tasks/{task_id}")).json()["data"]
        await wait_until_complete(emu, task_id)
        failed = (await c.get(f"{API}/tasks/{task_id}")).json()["data"]
        file = await c.get(f"{emu.cdn_origin}/results/{task_id}/0.png")
    assert 30 == running["state"]
    assert (20, []) == (failed["state"], failed["images"])
    assert failed["finishDate"] is not None
    assert "failure" == emu.tasks[task_id].fate
    assert emu.tasks[task_id].due_at == emu.complete_at(task_id)
    assert 404 == file.status_code


@pytest.mark.anyio
async def test_stuck_tasks_stay_running_forever() -> None:
    """
    ``task_stuck_rate=1`` tasks stay in state 30 long after their drawn end.
    """
    emu = Emulator(faults=Faults(task_stuck_rate=1.0))
    async with plain_client(emu) as c:
        task_id = (await generate(c, await valid_body(c, apps.FORM))).json()["data"]["taskId"]
        await anyio.sleep(86_400)
        data = (await c.get(f"{API}/tasks/{task_id}")).json()["data"]
    assert (30, None, []) == (data["state"], data["finishDate"], data["images"])
    assert math.inf == emu.complete_at(task_id)


@pytest.mark.anyio
async def test_task_fates_are_drawn_at_creation() -> None:
    """
    Changing the failure knob after creation does not change a task's fate.
    """
    emu = Emulator(faults=Faults(task_failure_rate=1.0))
    async with plain_client(emu) as c:
        task_id = (await generate(c, await valid_body(c, apps.FORM))).json()["data"]["taskId"]
        emu.faults.task_failure_rate = 0.0
        await wait_until_complete(emu, task_id)
        state = (await c.get(f"{API}/tasks/{task_id}")).json()["data"]["state"]
    assert 20 == state


# -- result files -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_results_expire_after_the_ttl() -> None:
    """
    ``result_ttl=60`` serves a result for 60 s after the task finished, then 403.
    """
    emu = Emulator(faults=Faults(result_ttl=60))
    async with plain_client(emu) as c:
        task_id = (await generate(c, await valid_body(c, apps.FORM))).json()["data"]["taskId"]
        await wait_until_complete(emu, task_id)
        url = emu.tasks[task_id].images[0]
        due = emu.complete_at(task_id)
        await sleep_until(due + 59)
        fresh = await c.get(url)
        await sleep_until(due + 60 + 1e-6)
        expired = await c.get(url)
        refetch = await c.post(f"{API}/images/upload", **text_form(("imageUrl", url)))
    assert 200 == fresh.status_code
    assert 403 == expired.status_code
    assert b"AccessDenied" in expired.content
    assert "expired" == emu.journal[-2].outcome
    assert 20100 == code_of(refetch)


@pytest.mark.anyio
async def test_oversized_download_streams_past_its_content_length() -> None:
    """
    ``oversized_download`` claims the real Content-Length but keeps streaming.
    """
    emu = Emulator()
    async with plain_client(emu) as c:
        cover = (await c.get(APP)).json()["data"]["appInfo"]["styleArr"][0]["image"]
        emu.faults.oversized_download = True
        received = 0
        async with c.stream("GET", cover) as response:
            claimed = int(response.headers["content-length"])
            async for chunk in response.aiter_raw():
                received += len(chunk)
    assert claimed < 1000
    assert 64 * 1024 * 1024 == received


# -- redirects and scoping ----------------------------------------------------------------


@pytest.mark.anyio
async def test_redirect_points_to_the_same_path_on_another_origin() -> None:
    """
    ``redirect_to`` answers 307 to the same path and query; that origin answers 404.
    """
    emu = Emulator(faults=Faults(redirect_to="https://a1art.xiaopiu.com"))
    async with plain_client(emu) as c:
        response = await c.get(APP, params={"language": "en_US"})
        followed = await c.get(APP, follow_redirects=True)
    assert 307 == response.status_code
    assert f"https://a1art.xiaopiu.com{APP}?language=en_US" == response.headers["location"]
    assert 404 == followed.status_code
    assert ["redirect", "redirect", "not_found"] == [e.outcome for e in emu.journal]
    assert [None, None, None] == [e.task_id for e in emu.journal]
    assert "https://a1art.xiaopiu.com" == emu.journal[-1].origin


@pytest.mark.anyio
async def test_endpoints_restricts_request_level_knobs() -> None:
    """
    With ``endpoints={"generate"}`` only generate sees server errors; apps stays healthy.
    """
    emu = Emulator(faults=Faults(server_error_rate=1.0, endpoints={"generate"}))
    async with plain_client(emu) as c:
        body = await valid_body(c, apps.FORM)
        generated = code_of(await generate(c, body))
    assert 20002 <= generated <= 20003
    assert ["ok"] * (len(emu.journal) - 1) == [e.outcome for e in emu.journal[:-1]]


@pytest.mark.anyio
async def test_file_downloads_are_spared_unless_named() -> None:
    """
    Drops hit API endpoints by default; downloads only when ``"file"`` is in ``endpoints``.
    """
    emu = Emulator()
    async with plain_client(emu) as c:
        cover = (await c.get(APP)).json()["data"]["appInfo"]["styleArr"][0]["image"]
        emu.faults.drop_before_rate = 1.0
        spared = await c.get(cover)
        emu.faults.endpoints = frozenset({"file"})
        with pytest.raises(httpx.ConnectError):
            await c.get(cover)
        emu.faults.drop_before_rate, emu.faults.latency = 0.0, 3.0
        emu.faults.http_5xx_rate = 1.0
        start = anyio.current_time()
        gateway = await c.get(cover)
        assert 3.0 == pytest.approx(anyio.current_time() - start, abs=1e-6)
        api = await c.get(APP)
    assert 200 == spared.status_code
    assert 502 == gateway.status_code
    assert 0 == code_of(api)


@pytest.mark.anyio
async def test_knobs_never_touch_unknown_origins() -> None:
    """
    Request-level knobs do not apply to the "other" endpoint.
    """
    emu = Emulator(faults=Faults(drop_before_rate=1.0, endpoints={"apps", "file"}))
    async with plain_client(emu) as c:
        response = await c.get("https://elsewhere.example/")
    assert 404 == response.status_code


@pytest.mark.anyio
async def test_fault_draws_replay_with_the_seed() -> None:
    """
    Two emulators with one seed fail the same requests at a 50 % fault rate.
    """
    patterns = []
    for _ in range(2):
        emu = Emulator(seed=3, faults=Faults(server_error_rate=0.5))
        async with plain_client(emu) as c:
            patterns.append([code_of(await c.get(APP)) for _ in range(16)])
    assert patterns[0] == patterns[1]
    assert {0} < set(patterns[0])


# -- the knob object itself ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("server_error_rate", 1.5),
        ("drop_before_rate", -0.1),
        ("latency", -1.0),
        ("rate_limit", 0),
        ("version_bump_after", 0),
        ("result_ttl", -5),
        ("http_5xx_status", 404),
        ("endpoints", {"uploads"}),
    ],
)
def test_invalid_knob_values_are_refused(name: str, value: object) -> None:
    """
    Out-of-range knob values raise ValueError when assigned.
    """
    faults = Faults()
    with pytest.raises(ValueError, match=name if name != "endpoints" else "endpoint"):
        setattr(faults, name, value)


def test_update_is_all_or_nothing() -> None:
    """
    ``Faults.update`` with one bad value or unknown name changes nothing.
    """
    faults = Faults()
    with pytest.raises(ValueError, match="probability"):
        faults.update({"latency": 1.0, "server_error_rate": 7})
    with pytest.raises(ValueError, match="unknown"):
        faults.update({"latency": 1.0, "gremlins": True})
    assert Faults() == faults
    faults.update({"latency": 1.0, "endpoints": ["file"]})
    assert (1.0, frozenset({"file"})) == (faults.latency, faults.endpoints)
    assert ["file"] == faults.to_json()["endpoints"]


def test_every_knob_is_off_by_default() -> None:
    """
    A fresh ``Faults`` changes nothing.
    """
    assert {
        "rate_limit": None,
        "rate_limit_http_429": False,
        "server_error_rate": 0.0,
        "http_5xx_rate": 0.0,
        "http_5xx_status": 502,
        "malformed_json_rate": 0.0,
        "drop_before_rate": 0.0,
        "drop_after_rate": 0.0,
        "latency": 0.0,
        "version_bump_after": None,
        "task_failure_rate": 0.0,
        "task_stuck_rate": 0.0,
        "task_concurrency": None,
        "result_ttl": None,
        "redirect_to": None,
        "endpoints": None,
        "oversized_download": False,
    } == Faults().to_json()
