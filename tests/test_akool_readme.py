"""
README's akool blocks run against the akool emulator, on both backends in virtual time.

They are fenced as ``py`` rather than ``python``: ``tests/test_readme.py`` runs every
``python`` block against the a1.art emulator, which these blocks do not talk to.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from a1art_async import akool
from a1art_async.testing.akool import Emulator

from ._akool import make_client

pytestmark = pytest.mark.anyio

README = Path(__file__).resolve().parent.parent / "README.md"
_SECTION = README.read_text(encoding="utf-8").split("\n## akool image generation\n", 1)[1]
BLOCKS = re.findall(r"```py\n(.*?)```", _SECTION.split("\n## ", 1)[0], re.S)


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


def test_the_akool_section_has_its_blocks() -> None:
    """
    The section shows a quickstart, webhooks and a batch.
    """
    assert 3 == len(BLOCKS)


@pytest.mark.parametrize("index", range(3))
async def test_each_akool_block_runs(
    index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    Each block's function runs to the end against the emulator (every client it makes
    is wired to it).
    """
    emulator = Emulator(seed=index)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AKOOL_API_KEY", emulator.api_key)
    monkeypatch.setenv("AKOOL_CLIENT_ID", emulator.client_id)
    original = akool.AsyncClient

    class Emulated(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("transport", emulator.transport())
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(akool, "AsyncClient", Emulated)
    namespace: dict[str, Any] = {}
    exec(compile(BLOCKS[index], f"README.md akool block {index}", "exec"), namespace)
    if "lighthouse" in namespace:
        await namespace["lighthouse"]()
        assert 4 == emulator.charged()
    elif "with_webhooks" in namespace:
        async with make_client(emulator) as client:
            handle = await client.images.create("hooked")
            image_id = handle.task_id
        await namespace["with_webhooks"](emulator.webhooks.body(image_id, 3))
    else:
        async with make_client(emulator) as client:
            await namespace["nightly"](client)
        assert 2 == emulator.paid_requests()
