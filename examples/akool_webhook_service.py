"""
A web service that makes akool images, learns they are done from akool's webhooks, and
keeps polling as the fallback (Starlette: ``pip install -e '.[examples,akool]'``).

    POST /images              JSON {"prompt": ..., "scale": "16:9"}: waits up to
                              WAIT_SECONDS for the image, 200 with it, or 202 with a token
    GET  /images/{token}      one look (``?wait=S`` to wait up to S seconds)
    POST /akool/webhook       akool's webhooks: opened, then the image is polled at once

One ``akool.AsyncClient`` serves every request, with ``webhook_url`` set: its background
polls slow down (a webhook makes it poll the image at once, and the result comes from
that authenticated poll), but never stop, so a lost webhook only costs time.  A forged
webhook (the signature is unkeyed SHA-1) is refused with 400 and changes nothing.

Against the built-in emulator, in process, no key and no network: the emulator sends its
webhooks to this app's ``/akool/webhook``; a second round drops every webhook, and the
results still arrive, later, by polling::

    python examples/akool_webhook_service.py --demo

Against akool (needs uvicorn, the ``server`` extra; akool must reach PUBLIC_URL)::

    AKOOL_API_KEY=... AKOOL_CLIENT_ID=... \\
        python examples/akool_webhook_service.py --serve --public-url https://you.example
"""

from __future__ import annotations

import argparse
import contextlib
import os
from typing import Any

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from a1art_async import A1ArtError, PollPolicy, TaskTimeoutError, ValidationError, akool

#: How long POST /images waits before it answers 202 with a token.
WAIT_SECONDS = 60.0


def image_json(image: akool.Image) -> dict[str, Any]:
    return {"id": image.id, "status": image.status.name.lower(), "url": image.image}


def make_app(client: akool.AsyncClient, *, wait_seconds: float = WAIT_SECONDS) -> Starlette:
    """
    The service over an open client (its webhook_url pointing at /akool/webhook).
    """

    async def answer(handle: akool.ImageHandle, wait: float) -> JSONResponse:
        try:
            image = await handle.result(timeout=wait) if wait > 0 else await handle.refresh()
        except TaskTimeoutError:
            return JSONResponse({"id": handle.task_id, "token": handle.to_token()}, 202)
        except akool.ImageFailedError as failed:
            return JSONResponse({"id": handle.task_id, "error": str(failed)}, 502)
        if not image.is_final:
            return JSONResponse({"id": image.id, "token": handle.to_token()}, 202)
        return JSONResponse(image_json(image))

    async def create(request: Request) -> JSONResponse:
        body = await request.json()
        try:
            handle = await client.images.create(
                body.get("prompt", ""), scale=body.get("scale", "1:1")
            )
        except ValidationError as bad:
            return JSONResponse({"error": str(bad), "field": bad.field}, 400)
        except akool.ImageOutcomeUnknown as unknown:
            # May have been charged: never resent by the SDK; say so.
            return JSONResponse({"error": str(unknown)}, 504)
        except A1ArtError as error:
            return JSONResponse({"error": str(error)}, 502)
        return await answer(handle, wait_seconds)

    async def look(request: Request) -> JSONResponse:
        try:
            handle = client.images.resume(request.path_params["token"])
            wait = float(request.query_params.get("wait", "0"))
        except (ValidationError, ValueError) as bad:
            return JSONResponse({"error": str(bad)}, 400)
        return await answer(handle, min(wait, wait_seconds))

    return Starlette(
        routes=[
            Route("/images", create, methods=["POST"]),
            Route("/images/{token:path}", look, methods=["GET"]),
            Route("/akool/webhook", client.webhooks.asgi(), methods=["POST"]),
        ]
    )


async def demo() -> None:
    """
    Three images with webhooks (and forged ones), three with every webhook lost,
    against the emulator.
    """
    from a1art_async.testing.akool import Emulator

    scale = 0.02  # images of about 30 s take 0.6 s here; polls are scaled to match
    policy = akool._config.WEBHOOK_POLL_POLICY
    scaled = PollPolicy(
        first_delay=policy.first_delay * scale,
        interval=policy.interval * scale,
        max_interval=policy.max_interval * scale,
        steady_for=policy.steady_for,
        coalesce=0.0,
    )
    emulator = Emulator(time_scale=scale, seed=7)
    async with akool.AsyncClient(
        api_key=emulator.api_key,
        client_id=emulator.client_id,
        transport=emulator.transport(),
        webhook_url="http://service.local/akool/webhook",
        poll_policy=scaled,
    ) as client:
        app = make_app(client, wait_seconds=30.0)
        to_app = httpx.ASGITransport(app)
        async with (
            httpx.AsyncClient(transport=to_app, base_url="http://service.local") as http,
            emulator.sending_webhooks(transport=to_app),
        ):
            # First every webhook arrives, and a forged copy of each (refused); then
            # every webhook is lost, and polling alone finds the results.
            for label, drop, forge in (("webhooks", 0.0, 1.0), ("webhooks lost", 1.0, 0.0)):
                emulator.faults.update({"webhook_drop_rate": drop, "webhook_forge_rate": forge})
                started = anyio.current_time()
                async with anyio.create_task_group() as group:
                    for n in range(3):
                        group.start_soon(_one, http, emulator, label, f"{label} {n}", started)
    print(f"webhooks delivered {client.webhooks.delivered}, refused {client.webhooks.refused}")
    print(f"credits {emulator.charged()}")


async def _one(
    http: httpx.AsyncClient, emulator: Any, label: str, prompt: str, started: float
) -> None:
    response = await http.post("/images", json={"prompt": prompt, "scale": "16:9"})
    body = response.json()
    lag = anyio.current_time() - emulator.complete_at(body["id"])
    print(f"{label:14} {response.status_code} {body['status']} lag {lag * 1000:.0f} ms")


async def serve(public_url: str, port: int) -> None:  # pragma: no cover - needs akool
    import uvicorn

    hook = public_url.rstrip("/") + "/akool/webhook"
    async with akool.AsyncClient(webhook_url=hook) as client:
        config = uvicorn.Config(make_app(client), host="0.0.0.0", port=port)
        await uvicorn.Server(config).serve()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo", action="store_true", help="run against the emulator")
    parser.add_argument("--serve", action="store_true", help="serve against akool")
    parser.add_argument("--public-url", default=os.environ.get("PUBLIC_URL", ""))
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    if args.serve:
        anyio.run(serve, args.public_url, args.port)
    else:
        anyio.run(demo)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
