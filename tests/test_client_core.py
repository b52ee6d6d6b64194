"""
The client core under every provider's client, tried on each of them: the fast
transport (``transport="aiohttp"``) end to end over loopback HTTP on asyncio and refused
on trio, bad arguments refused before any request, the key kept out of every repr, log
line and error (also when the server repeats it), and the lifecycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_aiohttp import AiohttpTransport

import a1art_async as a1
from a1art_async import akool, gateway
from a1art_async.testing._kit import serving
from a1art_async.testing.akool import Emulator as AkoolEmulator
from a1art_async.testing.gateway import Emulator as GatewayEmulator
from a1art_async.testing.gateway import models

pytestmark = pytest.mark.anyio

KEY = "sk-core-secret-5b8e2f9a"
QUICK = a1.PollPolicy(first_delay=0.02, hint_fraction=0, interval=0.02, learn_after=None)
PROVIDERS = ("a1art", "akool", "gateway")


def _client(provider: str, **options: Any) -> Any:
    """
    *provider*'s client, with the test key unless ``api_key`` is given; the gateway's at
    a made-up base URL unless one is given.
    """
    options.setdefault("api_key", KEY)
    if provider == "a1art":
        return a1.AsyncClient(**options)
    if provider == "akool":
        return akool.AsyncClient(**options)
    options.setdefault("base_url", "https://gw.example")
    return gateway.AsyncClient(**options)


# The fast transport ----------------------------------------------------------------


@pytest.fixture
def akool_served() -> Iterator[AkoolEmulator]:
    with serving(
        lambda api, files: AkoolEmulator(KEY, time_scale=0.001, api_origin=api, files_origin=files)
    ) as emulator:
        yield emulator


@pytest.fixture
def gateway_served() -> Iterator[GatewayEmulator]:
    with serving(
        lambda api, files: GatewayEmulator(
            KEY, time_scale=0.001, api_origin=api, files_origin=files
        )
    ) as emulator:
        yield emulator


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_akool_runs_end_to_end_over_aiohttp(
    akool_served: AkoolEmulator, tmp_path: Path
) -> None:
    """
    ``akool.AsyncClient(transport="aiohttp")`` creates an image, waits for it, presses
    a button on it and saves the result over aiohttp, the key reaching the API only.
    """
    async with akool.AsyncClient(
        api_key=KEY,
        base_url=akool_served.api_origin,
        transport="aiohttp",
        poll_policy=QUICK,
        retry=a1.RetryPolicy(max_retries=0),
    ) as client:
        image = await (await client.images.create("a lighthouse at dusk")).result()
        upscale = await (await client.images.press(image, "U1")).result()
        path = await client.images.download(upscale, tmp_path)
        transport = client.http._transport
    assert isinstance(transport, AiohttpTransport)
    assert (akool.ImageStatus.COMPLETED, b"\x89PNG") == (upscale.status, path.read_bytes()[:4])
    assert 4 == akool_served.charged()
    keyed = {entry.origin for entry in akool_served.journal if entry.key is not None}
    assert {akool_served.api_origin} == keyed
    assert akool_served.files_origin in {entry.origin for entry in akool_served.journal}


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_gateway_runs_end_to_end_over_aiohttp(
    gateway_served: GatewayEmulator, tmp_path: Path
) -> None:
    """
    ``gateway.AsyncClient(transport="aiohttp")`` gets a synchronous model's images in
    its answer and an asynchronous model's by polling, and saves both over aiohttp, the
    key reaching the API only.
    """
    async with gateway.AsyncClient(
        api_key=KEY,
        base_url=gateway_served.api_origin,
        transport="aiohttp",
        poll_policy=QUICK,
        credits=gateway_served.prices(),
        retry=a1.RetryPolicy(max_retries=0),
    ) as client:
        answered = await client.images.generate(models.DALL_E, prompt="a lighthouse")
        polled = await client.images.generate(models.FLUX, prompt="a harbour")
        saved = await client.download(answered, tmp_path) + await client.download(polled, tmp_path)
        transport = client.http._transport
    polls = [entry for entry in gateway_served.journal if entry.endpoint == "tasks"]
    assert isinstance(transport, AiohttpTransport)
    assert [b"\x89PNG"] * len(saved) == [path.read_bytes()[:4] for path in saved]
    assert len(saved) >= 2
    assert len(polls) >= 1
    keyed = {entry.origin for entry in gateway_served.journal if entry.key is not None}
    assert {gateway_served.api_origin} == keyed


@pytest.mark.parametrize("anyio_backend", ["trio"])
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_on_trio_the_aiohttp_transport_is_refused(provider: str) -> None:
    """
    Every provider's client opened with ``transport="aiohttp"`` on trio raises
    ``ValidationError`` naming the transport and saying it runs on asyncio only.
    """
    client = _client(provider, transport="aiohttp")
    with pytest.raises(a1.ValidationError, match="asyncio only") as raised:
        async with client:
            pass  # pragma: no cover - never entered
    assert "transport" == raised.value.field


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_http_client_and_a_transport_are_refused_together(provider: str) -> None:
    """
    Passing both ``http_client`` and a transport (``"aiohttp"`` or an httpx one) raises
    ``ValidationError`` naming the transport.
    """
    async with httpx.AsyncClient() as http:
        for transport in ("aiohttp", httpx.MockTransport(lambda request: httpx.Response(200))):
            with pytest.raises(a1.ValidationError) as refused:
                _client(provider, http_client=http, transport=transport)
            assert "transport" == refused.value.field


# Bad arguments ---------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"api_key": 5}, "api_key"),
        ({"api_key": "  "}, "api_key"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": "3"}, "max_retries"),
        ({"rate_limit": 0}, "rate_limit"),
        ({"transport": "curl"}, "transport"),
        ({"base_url": 5}, "base_url"),
        ({"base_url": "https://example.com:port"}, "base_url"),
        ({"base_url": "http://example.com"}, "base_url"),
        ({"base_url": "ftp://127.0.0.1"}, "base_url"),
    ],
)
def test_bad_arguments_are_refused_naming_their_field(
    provider: str, options: dict[str, Any], field: str
) -> None:
    """
    Each bad argument of the shared ones raises ``ValidationError`` naming it, for every
    provider, before anything is sent.
    """
    with pytest.raises(a1.ValidationError) as refused:
        _client(provider, **options)
    assert field == refused.value.field


# The key stays home ----------------------------------------------------------------

#: Per provider (and akool with a token): the client, one query, and the refusal that
#: repeats the key back.
_Query = Callable[[Any], Any]
_CASES: dict[str, tuple[dict[str, Any], _Query, httpx.Response]] = {
    "a1art": (
        {"api_key": KEY},
        lambda client: client.tasks.get("0" * 32),
        httpx.Response(
            200, json={"code": 10410, "msg": f"bad key {KEY}", "msg_cn": KEY, "data": None}
        ),
    ),
    "akool": (
        {"api_key": KEY},
        lambda client: client.images.get("f" * 24),
        httpx.Response(200, json={"code": 1101, "msg": f"bad key {KEY}", "data": None}),
    ),
    "akool-token": (
        {"api_key": None, "token": KEY},
        lambda client: client.images.get("f" * 24),
        httpx.Response(200, json={"code": 1101, "msg": f"bad token {KEY}", "data": None}),
    ),
    "gateway": (
        {"api_key": KEY},
        lambda client: client.tasks.get("abc"),
        httpx.Response(401, json={"success": False, "code": "401", "message": f"bad key {KEY}"}),
    ),
}


def _texts(error: BaseException) -> list[str]:
    """
    What an error can show: its traceback with causes, and the text, repr and
    attributes of it and of its cause.
    """
    texts = ["".join(traceback.format_exception(error))]
    for link in (error, error.__cause__):
        if link is not None:
            texts += [str(link), repr(link), repr(vars(link))]
    return texts


def _answers(case: str) -> list[httpx.Response]:
    """
    The three answers that repeat the key: *case*'s refusal, an HTML error page, and a
    redirect to another host.
    """
    return [
        _CASES[case][2],
        httpx.Response(502, text=f"<html>key {KEY} is not welcome here</html>"),
        httpx.Response(307, headers={"location": f"https://elsewhere.example/?k={KEY}"}),
    ]


async def _shown(case: str, answers: int, **options: Any) -> list[str]:
    """
    Send *case*'s query *answers* times through a client made with *options*: every
    error's texts, the reprs of the client and its parts.
    """
    given, query, _ = _CASES[case]
    client = _client(
        case.partition("-")[0], **given, **options, retry=a1.RetryPolicy(max_retries=0)
    )
    texts: list[str] = []
    async with client:
        for _ in range(answers):
            with pytest.raises(a1.A1ArtError) as raised:
                await query(client)
            texts += _texts(raised.value)
        texts += [repr(client), str(client), repr(vars(client)), repr(vars(client._session))]
        texts += [repr(client.http), repr(client.retry), repr(client.poll_policy)]
    return texts


def _logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return [formatter.format(record) for record in caplog.records]


@pytest.mark.parametrize("case", sorted(_CASES))
async def test_the_key_shows_in_no_repr_log_or_error(
    case: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    With DEBUG logging, a server that repeats the key in a refusal, in an HTML error
    page and in a redirect's Location: no repr of the client or its parts, log line or
    error shows the key, and only the API's host received it.
    """
    answers = _answers(case)
    hosts: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        return answers[len(hosts) - 1]

    caplog.set_level(logging.DEBUG)
    monkeypatch.delenv("AKOOL_API_KEY", raising=False)
    texts = await _shown(case, len(answers), transport=httpx.MockTransport(answer))
    texts += _logged(caplog)
    assert [] == [text[-300:] for text in texts if KEY in text]
    assert {"a1.art", "openapi.akool.com", "gw.example"} >= set(hosts)
    assert len(answers) == len(hosts)
    assert any("<secret>" in text for text in texts)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("case", sorted(_CASES))
async def test_on_aiohttp_the_key_shows_in_no_repr_log_or_error(
    case: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    The same on the fast transport's direct path, against a loopback server: no repr,
    log line or error shows the key, and the redirect is not followed.
    """
    answers = _answers(case)
    heads: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while len(heads) < len(answers):
                heads.append(await reader.readuntil(b"\r\n\r\n"))
                response = answers[len(heads) - 1]
                lines = [f"HTTP/1.1 {response.status_code} {response.reason_phrase}"]
                lines += [f"{name}: {value}" for name, value in response.headers.items()]
                lines.append(f"content-length: {len(response.content)}")
                writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + response.content)
                await writer.drain()
        writer.close()

    caplog.set_level(logging.DEBUG)
    monkeypatch.delenv("AKOOL_API_KEY", raising=False)
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    origin = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        texts = await _shown(case, len(answers), base_url=origin, transport="aiohttp")
    finally:
        server.close()
    texts += _logged(caplog)
    assert [] == [text[-300:] for text in texts if KEY in text]
    assert len(answers) == len(heads)
    assert all(KEY.encode() in head for head in heads)
    assert any("<secret>" in text for text in texts)


# The lifecycle ---------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_leaving_the_block_closes_the_client_for_good(provider: str) -> None:
    """
    Leaving ``async with`` closes the pool the client made (but not one passed in), and
    the client cannot be opened again.
    """
    mock = httpx.MockTransport(lambda request: httpx.Response(200))
    own = _client(provider, transport=mock)
    async with httpx.AsyncClient(transport=mock) as http:
        lent = _client(provider, http_client=http)
        for client in (own, lent):
            async with client:
                pass
            with pytest.raises(RuntimeError, match="closed"):
                async with client:
                    pass  # pragma: no cover - never entered
        assert (True, False) == (own.http.is_closed, http.is_closed)
