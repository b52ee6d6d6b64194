"""
The three emulators behind one transport, for the command line's job files that mix
providers: each request goes to the emulator whose API or file host it names.
"""

from __future__ import annotations

import io
import json
from typing import Any

import attrs
import httpx
import pytest

from a1art_async._cli._app import run_parsed
from a1art_async._cli._args import parse
from a1art_async.testing import Emulator as A1ArtEmulator
from a1art_async.testing._kit import origin_of
from a1art_async.testing.akool import Emulator as AkoolEmulator
from a1art_async.testing.gateway import Emulator as GatewayEmulator

A1ART_KEY = "sk-mixed-a1art-3f9c2e"
AKOOL_KEY = "akool-mixed-key-00000001"  # 24 characters, as akool's are
GATEWAY_KEY = "gw-mixed-key-7d41b0"
KEYS = (A1ART_KEY, AKOOL_KEY, GATEWAY_KEY)


class Routed(httpx.AsyncBaseTransport):
    """
    One transport for several in-process emulators, routing by origin.
    """

    def __init__(self, *emulators: Any) -> None:
        self._routes: dict[str, httpx.AsyncBaseTransport] = {}
        for emulator in emulators:
            transport = emulator.transport()
            for origin in (emulator.api_origin, *emulator.file_origins):
                self._routes[origin] = transport
        self._default = emulators[0].transport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self._routes.get(origin_of(str(request.url)), self._default)
        return await transport.handle_async_request(request)


@attrs.frozen
class Emulators:
    """
    An emulator of each API, with the keys the tests use.
    """

    a1art: A1ArtEmulator
    akool: AkoolEmulator
    gateway: GatewayEmulator

    def transport(self) -> Routed:
        return Routed(self.a1art, self.akool, self.gateway)

    def paid(self) -> dict[str, int]:
        """
        Paid requests each API acted on (tasks and images created, generations answered).
        """
        return {
            "a1art": self.a1art.generate_calls(),
            "akool": self.akool.paid_requests(),
            "gateway": self.gateway.generation_calls(),
        }

    def foreign_keys(self) -> list[tuple[str, str]]:
        """
        (emulator, key) for every request that carried another API's key: none may.
        """
        found = []
        for name, emulator, own in (
            ("a1art", self.a1art, A1ART_KEY),
            ("akool", self.akool, AKOOL_KEY),
            ("gateway", self.gateway, GATEWAY_KEY),
        ):
            for entry in emulator.journal:
                text = json.dumps(entry.headers) + entry.path + json.dumps(entry.query)
                found += [(name, key) for key in KEYS if key != own and key in text]
        return found


def emulators(*, time_scale: float = 1.0, seed: int = 3) -> Emulators:
    """
    The three emulators, each on its own seed (on one seed, their ids would share digits).
    """
    return Emulators(
        A1ArtEmulator(api_key=A1ART_KEY, balance=1000, seed=seed, time_scale=time_scale),
        AkoolEmulator(api_key=AKOOL_KEY, seed=seed + 1, time_scale=time_scale),
        GatewayEmulator(api_key=GATEWAY_KEY, seed=seed + 2, time_scale=time_scale),
    )


def provider_environment(monkeypatch: pytest.MonkeyPatch, emus: Emulators) -> None:
    """
    The akool and gateway keys (and the gateway's address) in the environment, as the
    command reads them; the a1.art key goes on the command line.
    """
    monkeypatch.setenv("AKOOL_API_KEY", AKOOL_KEY)
    monkeypatch.setenv("GATEWAY_API_KEY", GATEWAY_KEY)
    monkeypatch.setenv("GATEWAY_BASE_URL", emus.gateway.api_origin)
    monkeypatch.delenv("A1ART_API_KEY", raising=False)
    monkeypatch.delenv("AKOOL_CLIENT_ID", raising=False)


@attrs.frozen
class Ran:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


async def a1art(emus: Emulators, *argv: str, key: bool = True) -> Ran:
    """
    Run one command line on the current event loop, wired to the emulators; no key may
    show in what it prints.
    """
    args, _ = parse([*(["--api-key", A1ART_KEY] if key else []), *argv])
    out, err = io.StringIO(), io.StringIO()
    code = await run_parsed(args, stdout=out, stderr=err, transport=emus.transport())
    ran = Ran(code, out.getvalue(), err.getvalue())
    for secret in KEYS:
        assert secret not in ran.stdout + ran.stderr
    return ran
