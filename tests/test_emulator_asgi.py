"""
The ASGI adapter, driven in-process through ``httpx.ASGITransport`` and raw ASGI calls.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from a1art_async.testing import ConnectionDropped, Emulator, apps

from .test_emulator_support import API, KEY, code_of, generate, valid_body

APP = f"{API}/apps/{apps.FORM}"


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


def asgi_client(emu: Emulator, origin: str | None = None, **kwargs: Any) -> httpx.AsyncClient:
    """
    A plain httpx client that reaches the emulator's ASGI app in-process.
    """
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emu.asgi_app()),
        base_url=origin or emu.api_origin,
        headers={"apiKey": KEY},
        **kwargs,
    )


@pytest.mark.anyio
async def test_asgi_serves_the_same_state() -> None:
    """
    A generation through ASGI shows up in the emulator's counters and journal.
    """
    emu = Emulator()
    async with asgi_client(emu) as c:
        response = await generate(c, await valid_body(c, apps.FORM))
    assert 0 == code_of(response)
    assert (1, 1) == (emu.generate_calls(), emu.charged())
    assert "https://a1.art" == emu.journal[-1].origin
    assert "generate" == emu.journal[-1].endpoint


@pytest.mark.anyio
async def test_asgi_tells_the_cdn_from_the_api_by_origin() -> None:
    """
    The same path answers differently on the API origin and on the CDN origin.
    """
    emu = Emulator()
    async with asgi_client(emu) as c:
        cover = (await c.get(APP)).json()["data"]["appInfo"]["styleArr"][0]["image"]
        on_cdn = await c.get(cover)
        path = httpx.URL(cover).path
        on_api = await c.get(path)
    assert (200, "image/png") == (on_cdn.status_code, on_cdn.headers["content-type"])
    assert 404 == on_api.status_code
    assert ["apps", "file", "other"] == [e.endpoint for e in emu.journal]


@pytest.mark.anyio
async def test_admin_endpoints_report_journal_stats_and_faults() -> None:
    """
    ``/_emulator/journal``, ``stats`` and ``faults`` report the state as JSON.
    """
    emu = Emulator()
    async with asgi_client(emu) as c:
        await c.get(APP)
        journal = (await c.get("/_emulator/journal")).json()
        stats = (await c.get("/_emulator/stats")).json()
        faults = (await c.get("/_emulator/faults")).json()
    assert ["apps"] == [e["endpoint"] for e in journal]
    assert KEY == journal[0]["key"]
    assert {"balance": 1000, "vip": False, "charged": 0, "generate_calls": 0} == stats["keys"][KEY]
    assert 0.0 == faults["server_error_rate"]
    assert 1 == len(emu.journal)  # admin calls are not journaled


@pytest.mark.anyio
async def test_admin_can_set_faults_and_add_keys() -> None:
    """
    POSTing knobs changes the live faults; POSTing a key adds it.
    """
    emu = Emulator()
    async with asgi_client(emu) as c:
        set_faults = await c.post(
            "/_emulator/faults", json={"server_error_rate": 1, "endpoints": ["apps"]}
        )
        added = await c.post("/_emulator/keys", json={"key": "vip-key", "balance": 5, "vip": True})
        limited = await c.get(APP)
    assert 200 == set_faults.status_code
    assert ["apps"] == set_faults.json()["endpoints"]
    assert {"balance": 5, "vip": True, "charged": 0, "generate_calls": 0} == added.json()["keys"][
        "vip-key"
    ]
    assert code_of(limited) in (20002, 20003)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("/_emulator/faults", b"{nope"),
        ("/_emulator/faults", b"[]"),
        ("/_emulator/faults", b'{"latency": -1}'),
        ("/_emulator/faults", b'{"gremlins": 1}'),
        ("/_emulator/keys", b'{"balance": 5}'),
        ("/_emulator/keys", b'{"key": "test-key"}'),
    ],
)
async def test_admin_refuses_bad_input_with_400(path: str, content: bytes) -> None:
    """
    Malformed or invalid admin requests answer 400 with an error message.
    """
    async with asgi_client(Emulator()) as c:
        response = await c.post(path, content=content)
    assert 400 == response.status_code
    assert response.json()["error"]


@pytest.mark.anyio
async def test_unknown_admin_path_is_404_and_cdn_has_no_admin() -> None:
    """
    Unknown admin paths answer 404; the CDN origin does not serve admin endpoints.
    """
    emu = Emulator()
    async with asgi_client(emu) as c:
        unknown = await c.get("/_emulator/secrets")
        on_cdn = await c.get(f"{emu.cdn_origin}/_emulator/stats")
    assert 404 == unknown.status_code
    assert (404, "application/xml") == (on_cdn.status_code, on_cdn.headers["content-type"])


@pytest.mark.anyio
@pytest.mark.parametrize("knob", ["drop_before_rate", "drop_after_rate"])
async def test_drops_abort_the_connection_after_the_status_line(knob: str) -> None:
    """
    Over ASGI a drop starts the answer and then raises, so the server cuts the connection.
    """
    emu = Emulator()
    async with asgi_client(emu) as c:
        body = await valid_body(c, apps.FORM)
        setattr(emu.faults, knob, 1.0)
        with pytest.raises(ConnectionDropped):
            await generate(c, body)
    assert (knob == "drop_after_rate") == (1 == len(emu.tasks))


@pytest.mark.anyio
async def test_oversized_download_is_chunked_over_asgi() -> None:
    """
    Over ASGI an oversized download streams 64 MiB without a Content-Length.
    """
    emu = Emulator()
    async with asgi_client(emu) as c:
        cover = (await c.get(APP)).json()["data"]["appInfo"]["styleArr"][0]["image"]
        emu.faults.oversized_download = True
        response = await c.get(cover)
    assert "content-length" not in response.headers
    assert 64 * 1024 * 1024 == len(response.content)


async def _call(emu: Emulator, scope: dict[str, Any], messages: list[dict[str, Any]]) -> list[Any]:
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    await emu.asgi_app()(scope, receive, send)
    return sent


@pytest.mark.anyio
async def test_lifespan_is_acknowledged() -> None:
    """
    The app completes the lifespan startup and shutdown handshake.
    """
    sent = await _call(
        Emulator(),
        {"type": "lifespan"},
        [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}],
    )
    assert ["lifespan.startup.complete", "lifespan.shutdown.complete"] == [m["type"] for m in sent]


@pytest.mark.anyio
async def test_other_scopes_and_early_disconnects_get_no_answer() -> None:
    """
    Websocket scopes are ignored; a client gone before its body arrived gets nothing.
    """
    emu = Emulator()
    websocket = await _call(emu, {"type": "websocket"}, [])
    gone = await _call(
        emu,
        {"type": "http", "method": "POST", "path": "/", "headers": []},
        [{"type": "http.disconnect"}],
    )
    assert ([], []) == (websocket, gone)
    assert [] == emu.journal


@pytest.mark.anyio
async def test_connections_are_matched_by_port_when_the_address_differs() -> None:
    """
    A socket bound to 0.0.0.0 reports the client's address; the port picks the origin.
    """
    emu = Emulator(api_origin="http://0.0.0.0:8123", cdn_origin="http://0.0.0.0:8124")
    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "server": ("127.0.0.1", 8123),
        "path": APP,
        "query_string": b"",
        "headers": [(b"apikey", KEY.encode()), (b"x-twice", b"a"), (b"X-Twice", b"b")],
    }
    sent = await _call(emu, scope, [{"type": "http.request", "body": b""}])
    assert 200 == sent[0]["status"]
    assert ("http://0.0.0.0:8123", "apps") == (emu.journal[0].origin, emu.journal[0].endpoint)
    assert "a, b" == emu.journal[0].headers["x-twice"]


@pytest.mark.anyio
async def test_unknown_server_and_missing_server_fall_back() -> None:
    """
    An unknown socket is "other"; a scope without ``server`` uses the Host header.
    """
    emu = Emulator()
    base = {"type": "http", "method": "GET", "scheme": "https", "path": APP, "query_string": b""}
    await _call(
        emu, {**base, "server": ("10.1.2.3", 9999), "headers": []}, [{"type": "http.request"}]
    )
    await _call(
        emu,
        {**base, "headers": [(b"host", b"a1.art"), (b"apikey", KEY.encode())]},
        [{"type": "http.request", "body": b"", "more_body": False}],
    )
    assert ["other", "apps"] == [e.endpoint for e in emu.journal]
    assert "https://a1.art" == emu.journal[1].origin
