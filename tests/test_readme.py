"""
Every Python block in README.md runs, against the emulator and in virtual time, on both
backends: the README shows code that works.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from trio.testing import MockClock

import a1art_async
from a1art_async import gateway
from a1art_async.testing import Emulator, VirtualTimeEventLoop, apps, jpeg_bytes
from a1art_async.testing.gateway import Emulator as GatewayEmulator

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
KEY = "readme-key"


def _options(backend: str) -> dict[str, Any]:
    if backend == "asyncio":
        return {"loop_factory": VirtualTimeEventLoop}
    return {"clock": MockClock(autojump_threshold=0)}


@pytest.fixture(params=["asyncio", "trio"])
def world(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, Emulator, GatewayEmulator]:
    """
    A working directory with pet.jpg, the keys in the environment, and every client
    created without a transport wired to one emulator (the gateway's to its own, its
    base URL in the environment too); anyio.run runs on virtual time.
    """
    backend: str = request.param
    emulator = Emulator(api_key=KEY, balance=10_000)
    original_client = a1art_async.AsyncClient

    class EmulatedClient(original_client):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if "transport" not in kwargs and "http_client" not in kwargs:
                kwargs["transport"] = emulator.transport()
            super().__init__(*args, **kwargs)

    original_run = anyio.run

    def virtual_run(func: Callable[..., Any], *args: Any, backend: str = backend, **_: Any) -> Any:
        return original_run(func, *args, backend=backend, backend_options=_options(backend))

    gateway_emulator = GatewayEmulator(api_key=KEY)
    original_gateway = gateway.AsyncClient

    class EmulatedGateway(original_gateway):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if "transport" not in kwargs and "http_client" not in kwargs:
                kwargs["transport"] = gateway_emulator.transport()
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(gateway, "AsyncClient", EmulatedGateway)
    monkeypatch.setenv("GATEWAY_API_KEY", KEY)
    monkeypatch.setenv("GATEWAY_BASE_URL", gateway_emulator.api_origin)
    monkeypatch.setattr(a1art_async, "AsyncClient", EmulatedClient)
    monkeypatch.setattr(anyio, "run", virtual_run)
    monkeypatch.setenv("A1ART_API_KEY", KEY)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pet.jpg").write_bytes(jpeg_bytes(256, 256))
    return backend, emulator, gateway_emulator


async def _drive(namespace: dict[str, Any]) -> None:
    """
    Call the function a block defines with what it needs.
    """
    client_cls = a1art_async.AsyncClient
    if "test_my_code" in namespace:
        await namespace["test_my_code"]()
        return
    async with client_cls(api_key=KEY) as client:
        app = await client.apps.get(apps.FORM)
        upload = await client.images.upload("pet.jpg")
        description = app.forms_of(a1art_async.FormType.DESCRIPTION)[0]
        request = a1art_async.GenerateRequest(
            app_id=app.id,
            version_id=app.version_id,
            cnet=[
                a1art_async.CnetPart.from_upload(
                    app.forms_of(a1art_async.FormType.CNET)[0].id, upload
                )
            ],
            description=[a1art_async.DescriptionPart(description.inputs[0].id, "cat")],
            style_id=app.styles[0].id,
            size="1:1",
        )
        if "tour" in namespace:
            await namespace["tour"](client)
        if "many" in namespace:
            await namespace["many"](client, [request, request])
        if "run" in namespace:
            rows = [{"id": f"row-{n}", "image": "pet.jpg", "prompt": f"cat {n}"} for n in range(3)]
            await namespace["run"](client, rows)
        if "careful" in namespace:
            assert await namespace["careful"](client, request)
        if "tell" in namespace:
            await namespace["tell"](client, await client.images.submit(request))


def test_readme_has_blocks() -> None:
    """
    The README carries the quickstart, the tour and the other examples.
    """
    assert len(BLOCKS) >= 6


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index: int, world: tuple[str, Emulator, GatewayEmulator]) -> None:
    """
    Each Python block of README.md runs to the end against the emulator.
    """
    _, emulator, gateway_emulator = world
    namespace: dict[str, Any] = {"__name__": "readme"}
    exec(compile(BLOCKS[index], f"README.md block {index}", "exec"), namespace)
    if any(
        name in namespace for name in ("test_my_code", "tour", "many", "run", "careful", "tell")
    ):
        anyio.run(functools.partial(_drive, namespace))
    assert emulator.journal or gateway_emulator.journal or "test_my_code" in namespace


def test_the_emulator_block_runs_under_pytest(tmp_path: Path) -> None:
    """
    The emulator section's block, saved as a test file as README says, passes under
    pytest on asyncio and on trio, in virtual time.
    """
    block = next(text for text in BLOCKS if "def test_my_code" in text)
    (tmp_path / "test_my_code.py").write_text(block)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert 0 == done.returncode, done.stdout + done.stderr
    assert "2 passed" in done.stdout


def test_the_examples_section_names_every_example() -> None:
    """
    README's "Examples" section shows, for every script in examples/, the command that
    runs it.
    """
    text = README.read_text(encoding="utf-8")
    start = text.index("\n## Examples\n")
    section = text[start : text.index("\n## ", start + 1)]
    scripts = sorted(path.name for path in (README.parent / "examples").glob("*.py"))
    assert scripts
    for name in scripts:
        assert f"`python examples/{name}" in section, name
