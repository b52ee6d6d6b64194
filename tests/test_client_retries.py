"""
Retry rules, counted from the emulator's journal: reads retry every transient failure;
generate and enhance are resent only when the first attempt provably never arrived or
was turned away by the rate limiter.
"""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

import a1art_async as a1
from a1art_async.testing import Emulator, apps

from ._images import png
from .conftest import API_KEY

pytestmark = pytest.mark.anyio

MAX_RETRIES = 3


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


def _entries(emulator: Emulator, endpoint: str) -> list[Any]:
    return [entry for entry in emulator.journal if entry.endpoint == endpoint]


async def _request(client: a1.AsyncClient) -> a1.GenerateRequest:
    app = await client.apps.get(apps.TEXT)
    form = app.forms_of(a1.FormType.DESCRIPTION)[0]
    return a1.GenerateRequest(
        app_id=app.id,
        version_id=app.version_id,
        generate_num=2,
        description=[a1.DescriptionPart(form.id, "a lighthouse at dusk")],
        style_id=app.styles[0].id,
        size=a1.Size.SQUARE_1_1,
    )


@pytest.mark.parametrize(
    "knob",
    [
        "server_error_rate",
        "http_5xx_rate",
        "malformed_json_rate",
        "drop_before_rate",
        "drop_after_rate",
    ],
)
async def test_queries_retry_transient_failures(
    client: a1.AsyncClient, emulator: Emulator, knob: str
) -> None:
    """
    A read that keeps failing transiently is tried 1 + max_retries times, then raises.
    """
    setattr(emulator.faults, knob, 1.0)
    emulator.faults.endpoints = frozenset({"apps"})
    async with client:
        with pytest.raises(a1.A1ArtError) as caught:
            await client.apps.get(apps.FORM)
    assert 1 + MAX_RETRIES == len(_entries(emulator, "apps"))
    assert not isinstance(caught.value, a1.GenerationOutcomeUnknown)


async def test_queries_recover_from_intermittent_failures(
    client: a1.AsyncClient, emulator: Emulator
) -> None:
    """
    With half of all reads failing, every read still succeeds, after retries.
    """
    emulator.faults.server_error_rate = 0.5
    emulator.faults.endpoints = frozenset({"apps"})
    client.retry = a1.RetryPolicy(max_retries=30, initial=0.1, cap=1.0)
    async with client:
        for _ in range(20):
            await client.apps.get(apps.FORM)
    entries = _entries(emulator, "apps")
    assert 20 == sum(1 for entry in entries if entry.code == 0)
    assert len(entries) > 20


@pytest.mark.parametrize(
    "knob", ["drop_after_rate", "server_error_rate", "http_5xx_rate", "malformed_json_rate"]
)
async def test_generate_is_never_resent_after_it_may_have_arrived(
    client: a1.AsyncClient, emulator: Emulator, knob: str
) -> None:
    """
    A generate that reached the server without a clear answer raises
    GenerationOutcomeUnknown carrying the request, and is sent exactly once.
    """
    async with client:
        request = await _request(client)
        setattr(emulator.faults, knob, 1.0)
        emulator.faults.endpoints = frozenset({"generate"})
        with pytest.raises(a1.GenerationOutcomeUnknown) as caught:
            await client.images.generate(request)
    assert request == caught.value.request
    assert 1 == len(_entries(emulator, "generate"))
    assert "may have" in str(caught.value)


async def test_dropped_after_send_is_charged_and_reported_unknown(
    client: a1.AsyncClient, emulator: Emulator
) -> None:
    """
    The drop that happens after the server acted costs credits, which is why it is not
    resent: one generate call, two credits, outcome unknown.
    """
    async with client:
        request = await _request(client)
        emulator.faults.drop_after_rate = 1.0
        emulator.faults.endpoints = frozenset({"generate"})
        with pytest.raises(a1.GenerationOutcomeUnknown):
            await client.images.generate(request)
    assert (1, 2) == (emulator.generate_calls(), emulator.charged())


async def test_read_timeout_on_generate_is_outcome_unknown(emulator: Emulator) -> None:
    """
    A generate whose answer comes after the read timeout is outcome-unknown, not resent.
    """
    client = a1.AsyncClient(api_key=API_KEY, transport=emulator.transport(), timeout=5.0)
    async with client:
        request = await _request(client)
        emulator.faults.latency = 30.0
        emulator.faults.endpoints = frozenset({"generate"})
        with pytest.raises(a1.GenerationOutcomeUnknown) as caught:
            await client.images.generate(request)
    assert isinstance(caught.value.cause, a1.TimeoutError)
    assert 1 == len(_entries(emulator, "generate"))


async def test_generate_is_resent_when_it_never_left(
    client: a1.AsyncClient, emulator: Emulator
) -> None:
    """
    Connection failures before sending are retried; if they persist, a ConnectError says
    nothing was sent and nothing was charged.
    """
    async with client:
        request = await _request(client)
        emulator.faults.drop_before_rate = 1.0
        emulator.faults.endpoints = frozenset({"generate"})
        with pytest.raises(a1.ConnectError):
            await client.images.generate(request)
        assert (0, 0) == (emulator.generate_calls(), emulator.charged())
        emulator.faults.drop_before_rate = 0.5
        await client.images.generate(request)
    assert (1, 2) == (emulator.generate_calls(), emulator.charged())


async def test_rate_limited_generates_are_resent_and_charged_once_each(
    client: a1.AsyncClient, emulator: Emulator
) -> None:
    """
    Code 20000 means the server did nothing: many concurrent generates under a tight rate
    limit all succeed, each creating exactly one task.
    """
    async with client:
        request = await _request(client)
        emulator.faults.rate_limit = 2.0
        emulator.faults.endpoints = frozenset({"generate"})
        task_ids: list[str] = []

        async def one() -> None:
            task_ids.append(await client.images.generate(request))

        policy = a1.RetryPolicy(max_retries=50, initial=0.2, cap=2.0)
        client.retry = policy
        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(one)
    assert 10 == len(set(task_ids))
    assert (10, 20) == (emulator.generate_calls(), emulator.charged())
    assert any(entry.code == 20000 for entry in _entries(emulator, "generate"))


async def test_http_429_retry_after_is_honoured(client: a1.AsyncClient, emulator: Emulator) -> None:
    """
    On HTTP 429 the next attempt waits at least the server's Retry-After.
    """
    emulator.faults.rate_limit = 0.5
    emulator.faults.rate_limit_http_429 = True
    emulator.faults.endpoints = frozenset({"apps"})
    async with client:
        await client.apps.get(apps.FORM)
        await client.apps.get(apps.FORM)
    entries = _entries(emulator, "apps")
    limited = [i for i, entry in enumerate(entries) if entry.status == 429]
    assert limited
    first = limited[0]
    assert entries[first + 1].time - entries[first].time >= 1.0


async def test_auth_and_param_errors_are_not_retried(
    client: a1.AsyncClient, emulator: Emulator
) -> None:
    """
    Definitive answers are raised at once: one request each.
    """
    async with client:
        with pytest.raises(a1.AppNotFoundError):
            await client.apps.get("1")
        with pytest.raises(a1.InvalidParamsError):
            await client.tasks.get("nope")
    assert 2 == len(emulator.journal)


async def test_uploads_retry_like_reads(client: a1.AsyncClient, emulator: Emulator) -> None:
    """
    An upload whose answer was lost is sent again: a second copy costs nothing.
    """
    emulator.faults.drop_after_rate = 1.0
    emulator.faults.endpoints = frozenset({"upload"})
    async with client:
        with pytest.raises(a1.TransportError):
            await client.images.upload(png())
    assert 1 + MAX_RETRIES == len(_entries(emulator, "upload"))


async def test_html_error_page_shows_status_and_excerpt(
    client: a1.AsyncClient, emulator: Emulator
) -> None:
    """
    A 502 HTML page becomes UnexpectedResponseError with the status and a short excerpt.
    """
    emulator.faults.http_5xx_rate = 1.0
    emulator.faults.endpoints = frozenset({"tasks"})
    async with client:
        with pytest.raises(a1.UnexpectedResponseError) as caught:
            await client.tasks.get("0" * 32)
    assert 502 == caught.value.status
    assert "502" in caught.value.excerpt
    assert len(caught.value.excerpt) <= 203


async def test_max_retries_zero_disables_retrying(emulator: Emulator) -> None:
    """
    max_retries=0 makes one attempt.
    """
    emulator.faults.server_error_rate = 1.0
    async with a1.AsyncClient(
        api_key=API_KEY, transport=emulator.transport(), max_retries=0
    ) as client:
        with pytest.raises(a1.ServerError):
            await client.apps.get(apps.FORM)
    assert 1 == len(emulator.journal)


async def test_redirects_are_not_followed(client: a1.AsyncClient, emulator: Emulator) -> None:
    """
    An API redirect to another origin raises, and nothing is sent there.
    """
    emulator.faults.redirect_to = "https://elsewhere.example"
    async with client:
        with pytest.raises(a1.UnexpectedRedirectError, match="elsewhere"):
            await client.apps.get(apps.FORM)
    assert ["https://a1.art"] == [entry.origin for entry in emulator.journal]


async def test_truncated_json_body_is_reported_with_the_key_redacted() -> None:
    """
    A body that echoes the key is shown with the key removed.
    """

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"code": 0, "data": {"echo": "' + API_KEY.encode())

    async with a1.AsyncClient(
        api_key=API_KEY, transport=httpx.MockTransport(handler), max_retries=0
    ) as client:
        with pytest.raises(a1.UnexpectedResponseError) as caught:
            await client.tasks.get("t")
    assert API_KEY not in str(caught.value)
    assert "<secret>" in caught.value.excerpt


@pytest.mark.parametrize(
    "body",
    [
        b'{"code": 0}',
        b'{"code": 0, "data": {"taskId": null}}',
        b'{"code": 0, "data": []}',
        b'{"code": "0", "data": {}}',
        b"[1, 2, 3]",
        b"[" * 100_000,
    ],
)
async def test_envelopes_without_the_documented_shape(body: bytes) -> None:
    """
    Missing data, wrong types and pathological JSON raise UnexpectedResponseError.
    """

    async with a1.AsyncClient(
        api_key=API_KEY,
        transport=httpx.MockTransport(lambda request: httpx.Response(200, content=body)),
        max_retries=0,
    ) as client:
        with pytest.raises(a1.UnexpectedResponseError):
            await client.tasks.get("t")
