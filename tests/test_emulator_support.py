"""
Helpers shared by the emulator tests (this module holds no tests itself).

Tests talk to the emulator with plain httpx, never with the SDK client, and build
requests from what the API itself returns (the app details), the way a client would.
"""

from __future__ import annotations

from typing import Any

import anyio
import httpx

from a1art_async.testing import Emulator, png_bytes

API = "/open-api/v1/a1"
KEY = "test-key"


def plain_client(emu: Emulator, key: str | None = KEY, **kwargs: Any) -> httpx.AsyncClient:
    """
    A plain httpx client on the emulator's in-process transport, sending *key*.
    """
    headers = {"apiKey": key} if key is not None else {}
    headers.update(kwargs.pop("headers", {}))
    return httpx.AsyncClient(
        transport=emu.transport(), base_url=emu.api_origin, headers=headers, **kwargs
    )


async def app_info(c: httpx.AsyncClient, app_id: str) -> dict[str, Any]:
    """
    The ``appInfo`` of an app, asserting the call succeeded.
    """
    response = await c.get(f"{API}/apps/{app_id}")
    payload = response.json()
    assert 0 == payload["code"], payload
    info: dict[str, Any] = payload["data"]["appInfo"]
    return info


async def upload(
    c: httpx.AsyncClient, data: bytes | None = None, name: str = "photo.png"
) -> dict[str, str]:
    """
    Upload an image (a 64x64 PNG by default) and return ``{"imageUrl", "path"}``.
    """
    response = await c.post(
        f"{API}/images/upload", files={"file": (name, png_bytes() if data is None else data)}
    )
    payload = response.json()
    assert 0 == payload["code"], payload
    result: dict[str, str] = payload["data"]
    return result


async def valid_body(c: httpx.AsyncClient, app_id: str, generate_num: Any = "1") -> dict[str, Any]:
    """
    A generate body that satisfies every form of *app_id*, built from its details.
    """
    info = await app_info(c, app_id)
    body: dict[str, Any] = {
        "appId": info["id"],
        "versionId": info["versionId"],
        "generateNum": generate_num,
    }
    for form in info["formArr"]:
        if form["type"] == "cnet":
            image = await upload(c)
            entry = {"id": form["id"], **image, "position": form["position"]}
            body.setdefault("cnet", []).append(entry)
        elif form["type"] == "description":
            target = form["inputs"][0]["id"] if form.get("inputs") else form["id"]
            body.setdefault("description", []).append({"id": target, "value": "a black cat"})
        elif form["type"] == "style":
            body["styleId"] = info["styleArr"][0]["id"]
        elif form["type"] == "size":
            body["size"] = {"sizeId": "1"}
    return body


def code_of(response: httpx.Response) -> int:
    """
    The envelope code of an answer, asserting the documented envelope shape.
    """
    payload = response.json()
    assert ["code", "data", "msg", "msg_cn"] == sorted(payload)
    if payload["code"] != 0:
        assert payload["data"] is None
    code: int = payload["code"]
    return code


async def generate(c: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    """
    POST a generate body.
    """
    return await c.post(f"{API}/images/generate", json=body)


def text_form(*fields: tuple[str, str]) -> dict[str, Any]:
    """
    Request arguments for a ``multipart/form-data`` body of text fields only.

    httpx only writes multipart when there are files; the upload endpoint must also be
    tested with forms that carry just an ``imageUrl``.
    """
    boundary = "emulator-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields
    ]
    return {
        "content": ("".join(parts) + f"--{boundary}--\r\n").encode(),
        "headers": {"content-type": f"multipart/form-data; boundary={boundary}"},
    }


async def wait_until_complete(emu: Emulator, task_id: str) -> None:
    """
    Sleep until just after the task's drawn completion time (virtual time: instantly).
    """
    await anyio.sleep(max(0.0, emu.complete_at(task_id) - anyio.current_time() + 1e-6))


async def sleep_until(when: float) -> None:
    """
    Sleep until clock time *when*; virtual clocks may land within a nanosecond of it.
    """
    await anyio.sleep(max(0.0, when - anyio.current_time()))
