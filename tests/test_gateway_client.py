"""
The gateway client against its emulator, in virtual time on both backends: one handle
for synchronous and asynchronous models, waiting through the shared scheduler, every
documented status and error, and the spend rule under faults.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from a1art_async import EventKind, PollPolicy, RetryPolicy, gateway
from a1art_async.testing.gateway import Emulator, models

pytestmark = pytest.mark.anyio

KEY = "gw-key-0123456789abcdef"
RETRY = RetryPolicy(max_retries=3, initial=0.1, cap=1.0)


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(KEY, seed=3)


def _client(emulator: Emulator, **options: Any) -> gateway.AsyncClient:
    options.setdefault("retry", RETRY)
    return gateway.AsyncClient(
        api_key=KEY,
        base_url=emulator.api_origin,
        transport=emulator.transport(),
        credits=emulator.prices(),
        **options,
    )


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[gateway.AsyncClient]:
    async with _client(emulator) as opened:
        yield opened


def _generations(emulator: Emulator) -> list[Any]:
    return [entry for entry in emulator.journal if entry.endpoint == "generations"]


def _polls(emulator: Emulator) -> list[Any]:
    return [entry for entry in emulator.journal if entry.endpoint == "tasks"]


class TestOneHandle:
    """
    Synchronous and asynchronous models through the one handle type.
    """

    @pytest.mark.parametrize("model", models.SYNCHRONOUS)
    async def test_a_synchronous_answer_is_done_without_polling(
        self, emulator: Emulator, model: str
    ) -> None:
        """
        A synchronous model's handle is done when returned, and its result needs no
        request and no scheduler (the client is not even open).
        """
        client = _client(emulator)
        try:
            job = await client.images.submit(model, prompt="a lighthouse at dusk")
            sent = len(emulator.journal)
            result = await job.result()
        finally:
            await client.aclose()
        assert isinstance(job, gateway.Generation)
        assert (True, True, gateway.JobStatus.SUCCEEDED) == (job.done, job.synchronous, job.status)
        assert sent == len(emulator.journal) == 1
        assert 1 == len(result.images)
        assert (model, job.task_id, True) == (result.model, result.task_id, result.synchronous)
        assert [] == _polls(emulator)

    @pytest.mark.parametrize("model", models.ASYNCHRONOUS)
    async def test_an_asynchronous_task_is_polled_through_the_scheduler(
        self, emulator: Emulator, client: gateway.AsyncClient, model: str
    ) -> None:
        """
        An asynchronous model's handle waits for its task, polled no earlier than 5 s
        after it was submitted, and gives the images once it succeeded.
        """
        job = await client.images.submit(model, prompt="a lighthouse at dusk")
        assert (False, False, None) == (job.done, job.synchronous, job.status)
        result = await job.result()
        created = _generations(emulator)[0].time
        polls = _polls(emulator)
        assert (job.task_id, False) == (result.task_id, result.synchronous)
        assert {job.task_id} == {poll.task_id for poll in polls}
        assert polls[0].time - created >= 5.0 - 1e-6
        assert polls[-1].time >= emulator.complete_at(job.task_id) - 1e-6
        assert 1 == len(result.images)
        assert (True, gateway.JobStatus.SUCCEEDED) == (job.done, job.status)

    async def test_generate_is_submit_then_result(
        self, emulator: Emulator, client: gateway.AsyncClient
    ) -> None:
        """
        ``generate`` returns the images for either kind of model.
        """
        now = await client.images.generate(models.JIMENG, prompt="hills", return_url=True)
        later = await client.images.generate(models.WANX, input={"prompt": "hills"})
        assert now.images[0].inline
        assert now.images[0].url is not None
        assert later.images[0].url is not None
        assert 2 == emulator.generation_calls()

    async def test_as_completed_mixes_both_kinds(self, client: gateway.AsyncClient) -> None:
        """
        ``as_completed`` yields synchronous answers and finished tasks alike, each once.
        """
        jobs = [
            await client.images.submit(model, prompt=f"sea {n}")
            for n, model in enumerate(
                (models.SEEDREAM, models.FLUX, models.GPT_IMAGE, models.KOLORS)
            )
        ]
        async with client.tasks.as_completed(jobs) as results:
            outcomes = [outcome async for outcome in results]
        assert sorted(job.task_id for job in jobs) == sorted(o.task_id for o in outcomes)
        assert all(outcome.ok for outcome in outcomes)
        assert [True, True] == [o.unwrap().synchronous for o in outcomes[:2]]

    async def test_events_stream_the_states_the_polls_see(
        self, client: gateway.AsyncClient
    ) -> None:
        """
        A task's events go from submitted through the states its polls see to done.
        """
        job = await client.images.submit(models.WAN_PLUS, input={"prompt": "sea"})
        async with job.events() as events:
            kinds = [event.kind async for event in events]
        assert EventKind.SUBMITTED == kinds[0]
        assert EventKind.DONE == kinds[-1]
        assert EventKind.RUNNING in kinds

    async def test_a_token_resumes_the_wait_in_another_client(self, emulator: Emulator) -> None:
        """
        A task's token rebuilds its handle in another client, which waits for it; a
        synchronous answer has no task and no token.
        """
        async with _client(emulator) as first:
            job = await first.images.submit(models.FLUX, prompt="fog")
            token = job.to_token()
            answered = await first.images.submit(models.SEEDREAM, prompt="fog")
            with pytest.raises(gateway.ValidationError, match="no task to resume"):
                answered.to_token()
        async with _client(emulator) as second:
            resumed = second.tasks.resume(token)
            result = await resumed.result()
            once = await second.tasks.get(job.task_id)
        assert (job.task_id, models.FLUX) == (resumed.task_id, resumed.model)
        assert "api_key" not in token
        assert KEY not in token
        assert gateway.JobStatus.SUCCEEDED == once.status
        assert result.images == once.images
        with pytest.raises(gateway.ValidationError):
            second.tasks.resume('{"v": 1, "task_id": "x", "kind": "generate"}')

    async def test_a_task_query_is_one_request(
        self, emulator: Emulator, client: gateway.AsyncClient
    ) -> None:
        """
        ``tasks.get`` sends one query and reads the state as sent.
        """
        job = await client.images.submit(models.KOLORS, prompt="x")
        task = await client.tasks.get(job.task_id, model=models.KOLORS)
        assert ("SUBMITTED", gateway.JobStatus.QUEUED, None) == (
            task.state,
            task.status,
            task.result,
        )
        assert 1 == len(_polls(emulator))

    async def test_downloads_save_urls_and_bytes_without_the_key(
        self, emulator: Emulator, client: gateway.AsyncClient, tmp_path: Path
    ) -> None:
        """
        URL images are streamed to disk without the key, inline ones written; both
        are the pictures the emulator drew.
        """
        by_url = await client.images.generate(models.DALL_E, prompt="x", n=2)
        inline = await client.images.generate(models.GPT_IMAGE, prompt="y")
        saved = await client.download(by_url, tmp_path) + await client.download(inline, tmp_path)
        files = [entry for entry in emulator.journal if entry.endpoint == "file"]
        assert 3 == len(saved)
        assert all(path.read_bytes().startswith(b"\x89PNG") for path in saved)
        assert inline.images[0].data == saved[2].read_bytes()
        assert [None, None] == [entry.key for entry in files]
        assert [f"{by_url.task_id}-0.png", f"{by_url.task_id}-1.png"] == [p.name for p in saved[:2]]


class TestDocumentedErrors:
    """
    400, 401 and 429 as the docs show them, 5xx and bodies that are not the envelope.
    """

    async def test_invalid_parameters_are_refused_unpaid(
        self, emulator: Emulator, client: gateway.AsyncClient
    ) -> None:
        """
        A 400 raises ``InvalidParamsError`` with the string code and the message, once.
        """
        with pytest.raises(gateway.InvalidParamsError) as refused:
            await client.images.submit("no-such-model", prompt="x")
        assert ("400", "Invalid request parameters", 400) == (
            refused.value.code,
            refused.value.message,
            refused.value.status,
        )
        assert (1, 0) == (len(emulator.journal), emulator.charged())

    async def test_a_bad_key_is_unauthorized(self, emulator: Emulator) -> None:
        """
        A 401 raises ``AuthenticationError``, not retried.
        """
        async with gateway.AsyncClient(
            api_key="wrong", base_url=emulator.api_origin, transport=emulator.transport()
        ) as client:
            with pytest.raises(gateway.AuthenticationError) as refused:
                await client.images.submit(models.SEEDREAM, prompt="x")
        assert ("401", "Unauthorized") == (refused.value.code, refused.value.message)
        assert 1 == len(emulator.journal)

    async def test_rate_limits_are_waited_out_as_asked(self, emulator: Emulator) -> None:
        """
        A 429 is sent again after its ``Retry-After``, and the generation is charged once.
        """
        # One request per 20 s: the second comes 6-8 s after the first, a dozen too soon.
        emulator.faults.update({"rate_limit": 0.05, "endpoints": ["generations"]})
        async with _client(emulator, retry=RetryPolicy(max_retries=5)) as client:
            await client.images.submit(models.SEEDREAM, prompt="a")
            await client.images.submit(models.SEEDREAM, prompt="b")
        entries = _generations(emulator)
        limited = [entry for entry in entries if entry.outcome == "rate_limited"]
        assert limited
        assert ["ok", "ok"] == [
            entry.outcome for entry in entries if entry.outcome != "rate_limited"
        ]
        assert 2 == emulator.charged()
        after = entries[entries.index(limited[0]) + 1]
        # Retry-After said 12 s or more: longer than any backoff of the policy (8 s).
        assert after.time - limited[0].time >= 12.0 - 1e-6

    async def test_a_rate_limit_that_lasts_is_a_typed_error(self, emulator: Emulator) -> None:
        """
        Past its retries a 429 raises ``RateLimitError`` with the documented body.
        """
        emulator.faults.update({"rate_limit": 0.001})
        async with _client(emulator, retry=RetryPolicy(max_retries=1, retry_after_cap=0)) as client:
            await client.images.submit(models.SEEDREAM, prompt="a")
            with pytest.raises(gateway.RateLimitError) as limited:
                await client.images.submit(models.SEEDREAM, prompt="b")
        assert ("429", "Rate limit exceeded", 429) == (
            limited.value.code,
            limited.value.message,
            limited.value.status,
        )
        assert limited.value.retry_after is not None
        assert limited.value.retry_after >= 1
        assert 1 == emulator.charged()

    @pytest.mark.parametrize(
        "knobs",
        [{"server_error_rate": 1.0}, {"http_5xx_rate": 1.0}, {"malformed_json_rate": 1.0}],
    )
    async def test_queries_ride_out_a_failing_server(
        self, emulator: Emulator, client: gateway.AsyncClient, knobs: dict[str, Any]
    ) -> None:
        """
        A 5xx envelope, an HTML gateway page or broken JSON on a task query is retried.
        """
        job = await client.images.submit(models.FLUX, prompt="x")
        emulator.faults.update({**knobs, "endpoints": ["tasks"]})
        with anyio.move_on_after(12):
            await job.result()
        emulator.faults.update(
            {"server_error_rate": 0.0, "http_5xx_rate": 0.0, "malformed_json_rate": 0.0}
        )
        result = await job.result()
        outcomes = {entry.outcome for entry in _polls(emulator)}
        assert 1 == len(result.images)
        assert outcomes & {"server_error", "http_5xx", "malformed"}

    @pytest.mark.parametrize(
        ("knobs", "cause"),
        [
            ({"server_error_rate": 1.0}, gateway.ServerError),
            ({"http_5xx_rate": 1.0}, gateway.UnexpectedResponseError),
            ({"malformed_json_rate": 1.0}, gateway.UnexpectedResponseError),
        ],
    )
    async def test_a_failing_server_leaves_a_generation_unknown(
        self, emulator: Emulator, client: gateway.AsyncClient, knobs: dict[str, Any], cause: Any
    ) -> None:
        """
        A 5xx or a body that is not the envelope after a generation request raises
        ``GenerationOutcomeUnknown`` carrying the request; it is never sent again.
        """
        emulator.faults.update(knobs)
        with pytest.raises(gateway.GenerationOutcomeUnknown) as unknown:
            await client.images.submit(models.SEEDREAM, prompt="x", size="1024x1024")
        assert (
            gateway.GenerationRequest(models.SEEDREAM, {"prompt": "x", "size": "1024x1024"})
            == unknown.value.request
        )
        assert isinstance(unknown.value.cause, cause)
        assert 1 == len(_generations(emulator))

    async def test_bad_input_is_refused_before_anything_is_sent(
        self, emulator: Emulator, client: gateway.AsyncClient
    ) -> None:
        """
        An empty model, a blank prompt, a parameter that is not JSON or an ``n`` below 1
        raises ``ValidationError`` naming the field, and nothing is sent.
        """
        cases: list[tuple[str, dict[str, Any], str]] = [
            ("", {"prompt": "x"}, "model"),
            (models.SEEDREAM, {"prompt": "  "}, "prompt"),
            (models.SEEDREAM, {"prompt": "x", "seed": float("nan")}, "seed"),
            (models.SEEDREAM, {"prompt": "x", "image": b"bytes"}, "image"),
            (models.SEEDREAM, {"prompt": "x", "n": 0}, "n"),
        ]
        fields = []
        for model, params, _ in cases:
            with pytest.raises(gateway.ValidationError) as refused:
                await client.images.submit(model, **params)
            fields.append(refused.value.field)
        assert [field for _, _, field in cases] == fields
        assert [] == emulator.journal


class TestTaskStates:
    """
    Failing, stuck, forgotten and oddly spelled tasks end every wait.
    """

    async def test_a_failed_task_raises_with_the_vendors_words(
        self, emulator: Emulator, client: gateway.AsyncClient
    ) -> None:
        """
        A task that fails raises ``TaskFailedError`` naming its state and message.
        """
        emulator.faults.task_failure_rate = 1.0
        job = await client.images.submit(models.WANX, input={"prompt": "x"})
        with pytest.raises(gateway.TaskFailedError, match=r"FAILED: InternalError\.Algo"):
            await job.result()
        assert gateway.JobStatus.FAILED == job.status

    async def test_a_stuck_task_times_out_and_goes_on(
        self, emulator: Emulator, client: gateway.AsyncClient
    ) -> None:
        """
        A task that never ends raises ``TaskTimeoutError`` at the wait's deadline.
        """
        emulator.faults.task_stuck_rate = 1.0
        job = await client.images.submit(models.FLUX, prompt="x")
        with pytest.raises(gateway.TaskTimeoutError) as late:
            await job.result(timeout=120)
        assert ("processing", job.task_id) == (late.value.last_state, late.value.task_id)

    async def test_an_unknown_state_ends_the_wait(
        self, emulator: Emulator, client: gateway.AsyncClient
    ) -> None:
        """
        A state no usual spelling covers raises ``UnknownStateError`` at the first poll
        that sees it, instead of polling forever.
        """
        emulator.faults.unknown_state_rate = 1.0
        job = await client.images.submit(models.KOLORS, prompt="x")
        started = anyio.current_time()
        with pytest.raises(gateway.UnknownStateError) as odd:
            await job.result()
        assert ("STALLED", job.task_id) == (odd.value.state, odd.value.task_id)
        assert anyio.current_time() - started < 30

    async def test_a_forgotten_bailian_task_is_unknown_and_ends_failed(
        self, emulator: Emulator, client: gateway.AsyncClient
    ) -> None:
        """
        Bailian's ``UNKNOWN`` (the task expired) ends the wait with ``TaskFailedError``;
        another vendor's forgotten task answers 400.
        """
        emulator.faults.task_ttl = 1.0
        bailian = await client.images.submit(models.WANX, input={"prompt": "x"})
        other = await client.images.submit(models.FLUX, prompt="x")
        await anyio.sleep(120)
        with pytest.raises(gateway.TaskFailedError, match="does not know the task"):
            await bailian.result()
        with pytest.raises(gateway.InvalidParamsError):
            await other.result()
        assert "UNKNOWN" == bailian.state

    async def test_a_generation_without_images_is_a_typed_error(self) -> None:
        """
        A success whose ``data`` holds no image raises ``NoImageError`` carrying the
        raw data; it is not sent again.
        """
        sent: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            sent.append(request)
            body = {
                "success": True,
                "code": "200",
                "message": "successful",
                "data": {"created": 1, "data": [], "note": "moderated"},
            }
            return httpx.Response(200, json=body)

        async with gateway.AsyncClient(
            api_key=KEY, base_url="https://gw.test", transport=httpx.MockTransport(handler)
        ) as client:
            job = await client.images.submit("any-model", prompt="x")
            with pytest.raises(gateway.NoImageError) as empty:
                await job.result()
        assert job.done
        assert "moderated" == empty.value.task.data["note"]
        assert 1 == len(sent)


class TestTheSpendRule:
    """
    A generation is paid: resent only when the first attempt provably did nothing.
    """

    async def test_a_connection_never_made_is_retried(
        self, emulator: Emulator, client: gateway.AsyncClient
    ) -> None:
        """
        A request that never reached the gateway is sent again and charged once.
        """
        emulator.faults.update({"drop_before_rate": 1.0, "endpoints": ["generations"]})

        def heal(event: Any) -> None:  # the first retry finds the network back
            if event.kind is EventKind.RETRYING:
                emulator.faults.drop_before_rate = 0.0

        with client.listening(heal):
            job = await client.images.submit(models.SEEDREAM, prompt="x")
        outcomes = [entry.outcome for entry in _generations(emulator)]
        assert (["dropped_before", "ok"], 1, True) == (outcomes, emulator.charged(), job.done)

    async def test_a_dropped_answer_is_outcome_unknown(
        self, emulator: Emulator, client: gateway.AsyncClient
    ) -> None:
        """
        A connection dropped after the gateway acted raises ``GenerationOutcomeUnknown``;
        the generation was charged once and not sent again.
        """
        emulator.faults.update({"drop_after_rate": 1.0, "endpoints": ["generations"]})
        with pytest.raises(gateway.GenerationOutcomeUnknown):
            await client.images.submit(models.GPT_IMAGE, prompt="x")
        assert (["dropped_after"], 2) == (
            [entry.outcome for entry in _generations(emulator)],
            emulator.charged(),
        )

    async def test_a_synchronous_answer_slower_than_the_timeout_is_never_resent(
        self, emulator: Emulator
    ) -> None:
        """
        A synchronous model that answers after the client's read timeout (after the
        charge) raises ``GenerationOutcomeUnknown`` at the timeout, once.
        """
        emulator.faults.sync_latency = 400.0
        async with _client(emulator) as client:
            started = anyio.current_time()
            with pytest.raises(gateway.GenerationOutcomeUnknown) as unknown:
                await client.images.submit(models.SEEDREAM, prompt="x")
            waited = anyio.current_time() - started
        assert isinstance(unknown.value.cause, gateway.TimeoutError)
        assert 300.0 == pytest.approx(waited, abs=1e-3)  # the default sync_timeout
        assert (["timeout"], 1) == (
            [entry.outcome for entry in _generations(emulator)],
            emulator.charged(),
        )

    async def test_read_timeouts_are_per_model(self, emulator: Emulator) -> None:
        """
        ``sync_timeout`` and ``timeouts`` set a generation's read timeout by model; a
        synchronous answer within it arrives, past it is outcome-unknown.
        """
        emulator.faults.sync_latency = 30.0
        async with _client(emulator, sync_timeout=60, timeouts={models.DALL_E: 20}) as client:
            answered = await client.images.submit(models.SEEDREAM, prompt="x")
            with pytest.raises(gateway.GenerationOutcomeUnknown):
                await client.images.submit(models.DALL_E, prompt="x")
            assert (60.0, 20.0) == (
                client.read_timeout(models.SEEDREAM),
                client.read_timeout(models.DALL_E),
            )
        assert answered.done
        assert ["ok", "timeout"] == [entry.outcome for entry in _generations(emulator)]

    async def test_the_historical_header_is_never_sent(
        self, emulator: Emulator, client: gateway.AsyncClient
    ) -> None:
        """
        Requests carry ``Authorization: Bearer KEY`` and never ``X-Async``.
        """
        job = await client.images.submit(models.FLUX, prompt="x")
        await job.result()
        assert {f"Bearer {KEY}"} == {
            entry.headers["authorization"] for entry in emulator.journal if entry.endpoint != "file"
        }
        assert not any("x-async" in entry.headers for entry in emulator.journal)

    async def test_polls_and_generations_share_the_rate_budget(self, emulator: Emulator) -> None:
        """
        With a ceiling of 2 requests a second, generations and polls together stay
        under it.
        """
        policy = PollPolicy(first_delay=0.5, interval=0.5, hint_fraction=0, jitter=0)
        jobs: list[gateway.Generation] = []
        async with _client(emulator, rate_limit=2.0, poll_policy=policy) as client:

            async def one(n: int) -> None:
                job = await client.images.submit(models.FLUX, prompt=f"{n}")
                jobs.append(job)
                await job.result()

            async with anyio.create_task_group() as group:
                for n in range(8):
                    group.start_soon(one, n)
        times = [entry.time for entry in emulator.journal]
        busiest = max(sum(1 for t in times if start <= t < start + 5.0) for start in times)
        assert 8 == len(_generations(emulator)) == len(jobs)
        assert len(_polls(emulator)) > 8
        assert busiest <= 2 * 5 + 2  # the budget's burst, then 2 a second


class TestTheKey:
    """
    The key stays with the gateway: never in a repr, a log or another host.
    """

    async def test_a_redirect_is_not_followed(self, emulator: Emulator) -> None:
        """
        A redirect raises ``UnexpectedRedirectError``; the key never reaches its target.
        """
        emulator.faults.redirect_to = "https://elsewhere.example"
        async with _client(emulator) as client:
            with pytest.raises(gateway.UnexpectedRedirectError):
                await client.tasks.get("abc")
        assert {emulator.api_origin} == {entry.origin for entry in emulator.journal}

    async def test_the_key_appears_in_no_repr_error_or_log(
        self, emulator: Emulator, caplog: pytest.LogCaptureFixture
    ) -> None:
        """
        Reprs, error messages and debug logs never show the key.
        """
        emulator.faults.update({"drop_after_rate": 1.0, "endpoints": ["generations"]})
        caplog.set_level(logging.DEBUG, logger="a1art_async")
        texts: list[str] = []
        async with _client(emulator) as client:
            texts.append(repr(client))
            try:
                await client.images.submit(models.SEEDREAM, prompt="x")
            except gateway.GenerationOutcomeUnknown as error:
                texts += [str(error), repr(error), repr(error.request)]
            emulator.faults.drop_after_rate = 0.0
            job = await client.images.submit(models.FLUX, prompt="x")
            texts += [repr(job), job.to_token(), repr(await job.result())]
        texts += [record.getMessage() for record in caplog.records]
        assert [] == [text for text in texts if KEY in text]
        assert any("generations" in text for text in texts)


class TestConfiguration:
    """
    The client refuses what would go wrong before any request.
    """

    def test_the_base_url_is_required(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """
        Without ``base_url`` or ``GATEWAY_BASE_URL`` the client refuses to start.
        """
        monkeypatch.delenv("GATEWAY_BASE_URL", raising=False)
        with pytest.raises(gateway.ValidationError) as missing:
            gateway.AsyncClient(api_key=KEY)
        assert "base_url" == missing.value.field
        monkeypatch.setenv("GATEWAY_BASE_URL", "https://gw.example/prefix/")
        assert "https://gw.example/prefix" == gateway.AsyncClient(api_key=KEY).base_url

    def test_the_key_is_required(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """
        Without ``api_key`` or ``GATEWAY_API_KEY`` the client refuses to start; the
        variable is read otherwise.
        """
        monkeypatch.delenv("GATEWAY_API_KEY", raising=False)
        with pytest.raises(gateway.ValidationError) as missing:
            gateway.AsyncClient(base_url="https://gw.example")
        monkeypatch.setenv("GATEWAY_API_KEY", KEY)
        client = gateway.AsyncClient(base_url="https://gw.example")
        assert "api_key" == missing.value.field
        assert KEY not in repr(client)

    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("https://gw.example", "https://gw.example"),
            ("https://gw.example/api/v1", "https://gw.example"),
            ("https://gw.example/ai/api/v1/", "https://gw.example/ai"),
            ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
            ("http://localhost:9", "http://localhost:9"),
        ],
    )
    def test_base_urls_are_spelled_one_way(self, url: str, expected: str) -> None:
        """
        A base URL keeps its path prefix, loses a trailing slash and ``/api/v1``.
        """
        assert expected == gateway.AsyncClient(api_key=KEY, base_url=url).base_url

    @pytest.mark.parametrize(
        "url",
        [
            "http://gw.example",
            "ftp://gw.example",
            "https://user:secret@gw.example",
            "https://gw.example/?q=1",
            "gw.example",
        ],
    )
    def test_unsafe_base_urls_are_refused(self, url: str) -> None:
        """
        Plain http off loopback, other schemes, credentials or queries are refused.
        """
        with pytest.raises(gateway.ValidationError) as refused:
            gateway.AsyncClient(api_key=KEY, base_url=url)
        assert "base_url" == refused.value.field

    @pytest.mark.parametrize(
        ("options", "field"),
        [
            ({"sync_timeout": 0}, "sync_timeout"),
            ({"sync_timeout": float("inf")}, "sync_timeout"),
            ({"timeouts": {"m": -1}}, "timeouts"),
            ({"credits": {"m": -1}}, "credits"),
            ({"credits": {"m": True}}, "credits"),
        ],
    )
    def test_options_are_checked(self, options: dict[str, Any], field: str) -> None:
        """
        Timeouts must be positive and finite, credits non-negative integers.
        """
        with pytest.raises(gateway.ValidationError) as refused:
            gateway.AsyncClient(api_key=KEY, base_url="https://gw.example", **options)
        assert field == refused.value.field

    def test_credits_price_generations(self) -> None:
        """
        A model's credits come from the table, 1 for any other model.
        """
        client = gateway.AsyncClient(
            api_key=KEY, base_url="https://gw.example", credits={"big": 3, "free": 0}
        )
        assert [3, 0, 1] == [client.estimate_cost(m).credits for m in ("big", "free", "other")]
