"""
An async web service on a1art_async, with Starlette (``pip install -e '.[examples]'`` in
the project directory).

    POST /generate          form fields: image (a file), prompt, style, aspect
                            waits for the result up to WAIT_SECONDS: 200 with the result
                            URLs, or 202 with a resume token if the task takes longer
    POST /submit            the same form; answers 202 at once with a resume token
    GET  /status?token=...  one look at the task behind a token: its state, and the result
                            URLs once it has completed

One AsyncClient serves every request.  It is opened in the app's lifespan, so its polling
scheduler runs as long as the app does, and concurrent requests share its connection pool,
its request budget and its polls.  A token is a small JSON string holding the task id and
when it was submitted (no key): store it, or hand it to the browser, and resume in any
process.

Against the built-in emulator (no key, no network; needs uvicorn, the ``server`` extra):

    python examples/web_app.py --emulator
    curl -F image=@pet.png -F prompt='black cat' -F style=Watercolor -F aspect=1:1 \\
        http://127.0.0.1:8000/generate

Against a1.art: ``A1ART_API_KEY=... A1ART_APP_ID=... python examples/web_app.py``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from a1art_async import (
    APIError,
    AsyncClient,
    BalanceInsufficientError,
    GenerationOutcomeUnknown,
    PollPolicy,
    RateLimitError,
    TaskFailedError,
    TaskHandle,
    TaskState,
    TaskTimeoutError,
    TransportError,
    ValidationError,
)

#: The app this service generates with; the docs' "Crazy Pet" unless A1ART_APP_ID is set.
APP_ID = os.environ.get("A1ART_APP_ID", "1803632078862147586")
#: How long POST /generate waits before it answers with a token instead.
WAIT_SECONDS = 60.0
#: The API takes images up to 10 MB.
MAX_IMAGE_BYTES = 10 * 1024 * 1024


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _api_error(error: APIError) -> JSONResponse:
    status = 402 if isinstance(error, BalanceInsufficientError) else 502
    if isinstance(error, RateLimitError):
        status = 429
    return _error(
        status, "a1.art refused the request", code=error.code, msg=error.msg, msg_cn=error.msg_cn
    )


def _accepted(handle: TaskHandle) -> JSONResponse:
    token = handle.to_token()
    return JSONResponse(
        {"task_id": handle.task_id, "state": "submitted", "token": token},
        status_code=202,
    )


async def _submit(request: Request) -> TaskHandle | JSONResponse:
    """
    Read the form and submit the generation; a response if that is not possible.
    """
    async with request.form(max_files=1) as form:
        image = form.get("image")
        if not isinstance(image, UploadFile):
            return _error(422, "image: send the picture as a file field named 'image'")
        data = await image.read(MAX_IMAGE_BYTES + 1)
        prompt, style, aspect = (form.get(name) for name in ("prompt", "style", "aspect"))
    client: AsyncClient = request.app.state.client
    try:
        return await client.generate(
            APP_ID,
            image=data,
            prompt=prompt if isinstance(prompt, str) else None,
            style=style if isinstance(style, str) else None,
            aspect=aspect if isinstance(aspect, str) else None,
        )
    except ValidationError as error:
        # Checked against the app's forms before any upload or charge.
        return _error(422, str(error), field=error.field)
    except APIError as error:
        return _api_error(error)
    except GenerationOutcomeUnknown:
        return _error(
            502,
            "no answer from a1.art: the generation may have been charged, so it was not sent again",
        )
    except TransportError as error:
        return _error(503, f"a1.art could not be reached: {error}")


def _result(task_id: str, images: tuple[str, ...]) -> dict[str, Any]:
    return {"task_id": task_id, "state": "completed", "images": list(images)}


async def generate(request: Request) -> JSONResponse:
    """
    Submit, then wait for the result up to the app's WAIT_SECONDS.
    """
    submitted = await _submit(request)
    if isinstance(submitted, JSONResponse):
        return submitted
    try:
        task = await submitted.result(timeout=request.app.state.wait_seconds)
    except TaskTimeoutError:
        # The task goes on; the caller resumes it with the token.
        return _accepted(submitted)
    except TaskFailedError:
        return _error(502, "the generation failed", task_id=submitted.task_id, state="failed")
    except APIError as error:
        return _api_error(error)
    return JSONResponse(_result(task.task_id, task.images))


async def submit(request: Request) -> JSONResponse:
    """
    Submit and answer at once with a resume token.
    """
    submitted = await _submit(request)
    if isinstance(submitted, JSONResponse):
        return submitted
    return _accepted(submitted)


async def status(request: Request) -> JSONResponse:
    """
    Resume a token and look at its task once.
    """
    client: AsyncClient = request.app.state.client
    try:
        handle = client.tasks.resume(request.query_params.get("token", ""))
        task = await handle.refresh()
    except ValidationError as error:
        return _error(400, str(error))
    except APIError as error:
        return _api_error(error)
    if task.state is TaskState.COMPLETED:
        return JSONResponse(_result(task.task_id, task.images))
    return JSONResponse({"task_id": task.task_id, "state": task.state.name.lower()})


def create_app(
    client_factory: Callable[[], AsyncClient], *, wait_seconds: float = WAIT_SECONDS
) -> Starlette:
    """
    The service; *client_factory* makes the one client it opens for its lifetime.
    """

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with client_factory() as client:
            app.state.client = client
            yield

    app = Starlette(
        routes=[
            Route("/generate", generate, methods=["POST"]),
            Route("/submit", submit, methods=["POST"]),
            Route("/status", status, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.wait_seconds = wait_seconds
    return app


def emulated_client_factory(time_scale: float = 0.05) -> Callable[[], AsyncClient]:
    """
    Clients on one in-process emulator whose tasks run *time_scale* times as long as
    a1.art's, polled on the same scale.
    """
    from a1art_async.testing import Emulator

    emulator = Emulator(api_key="web-demo-key", balance=1000, time_scale=time_scale)
    policy = PollPolicy(
        first_delay=5 * time_scale, hint_fraction=0.875 * time_scale, interval=4.75 * time_scale
    )

    def factory() -> AsyncClient:
        return AsyncClient(
            api_key="web-demo-key", transport=emulator.transport(), poll_policy=policy
        )

    return factory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emulator", action="store_true", help="use the built-in emulator")
    parser.add_argument("--port", type=int, default=8000)
    options = parser.parse_args()
    import uvicorn  # the `server` extra

    factory = emulated_client_factory() if options.emulator else AsyncClient
    uvicorn.run(create_app(factory), host="127.0.0.1", port=options.port)


if __name__ == "__main__":
    main()
