"""
``a1art akool ...``: akool's commands on the ``a1art`` command line, and
:func:`batch_job` for ``a1art batch`` rows with ``"provider": "akool"``.

Same conventions as the a1.art commands: results on stdout (``--json``: one document),
progress on stderr, the documented exit statuses (``_cli/_exit.py``), Ctrl-C that never
loses an image that was paid for.  The key comes from ``--api-key`` or
``AKOOL_API_KEY``; ``--time-scale`` multiplies every polling wait.

::

    a1art akool create --prompt TEXT [--scale 16:9] [--source-image URL] [--out DIR] [--no-wait]
    a1art akool press IMAGE_ID U2 [--out DIR] [--no-wait]
    a1art akool get IMAGE_ID|TOKEN [--wait] [--out DIR]

:func:`batch_job` (in ``_rows``, which needs no ``cli`` extra) turns a job file's akool
row into a batch job.
"""

from __future__ import annotations

import argparse
import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import anyio
from rich.console import Console

from .._cli._context import Context
from .._cli._exit import ExitCode, UsageError
from .._cli._local import check_out
from .._cli._output import jsonable, table
from .._cli._progress import animated, elapsed_text
from .._engine._cost import CostEstimate
from .._engine._errors import TaskTimeoutError, ValidationError
from .._engine._schedule import PollPolicy
from ._client import AsyncClient
from ._config import BUTTONS, DEFAULT_POLL_POLICY, SCALES
from ._handles import ImageHandle
from ._models import CreateRequest, Image, ImageStatus, PressRequest
from ._rows import batch_job as batch_job

# The parser ---------------------------------------------------------------------------


def add_commands(commands: Any, common: Sequence[argparse.ArgumentParser]) -> None:
    """
    Add the ``akool`` command tree to the ``a1art`` parser's subcommands.
    """
    akool = commands.add_parser(
        "akool", help="akool image generation", description="akool image generation."
    )
    sub = akool.add_subparsers(dest="akool_command", metavar="SUBCOMMAND")
    sub.required = True

    def waits(parser: argparse.ArgumentParser, flag: str) -> None:
        if flag == "--no-wait":
            parser.add_argument(
                "--no-wait",
                dest="wait",
                action="store_false",
                help="print the image id and a resume token instead of waiting",
            )
        else:
            parser.add_argument("--wait", action="store_true", help="wait until it ends")
        parser.add_argument("--out", metavar="DIR", help="save the result here")
        parser.add_argument(
            "--timeout", type=float, metavar="SECONDS", help="give up waiting after this long"
        )

    create = sub.add_parser("create", help="an image from a prompt (2 credits)", parents=common)
    create.set_defaults(handler="akool_create")
    create.add_argument("--prompt", required=True, help="what to draw")
    create.add_argument("--scale", default="1:1", help=f"one of {', '.join(SCALES)} (1:1)")
    create.add_argument("--source-image", metavar="URL", help="image to image: the source's URL")
    create.add_argument("--webhook-url", metavar="URL", help="where akool posts status changes")
    waits(create, "--no-wait")

    press = sub.add_parser(
        "press", help="U1-U4 (4K upscale) or V1-V4 (variation) on an image", parents=common
    )
    press.set_defaults(handler="akool_press")
    press.add_argument("image_id", metavar="IMAGE_ID")
    press.add_argument("button", metavar="BUTTON", help=", ".join(BUTTONS))
    press.add_argument("--webhook-url", metavar="URL", help="where akool posts status changes")
    waits(press, "--no-wait")

    get = sub.add_parser("get", help="an image's status and result", parents=common)
    get.set_defaults(handler="akool_get")
    get.add_argument("image", metavar="IMAGE_ID|TOKEN")
    waits(get, "--wait")


# The commands -------------------------------------------------------------------------


def _policy(scale: float | None) -> PollPolicy:
    base = DEFAULT_POLL_POLICY
    if scale is None:
        return base
    return PollPolicy(
        first_delay=base.first_delay * scale,
        interval=base.interval * scale,
        steady_for=base.steady_for,
        backoff=base.backoff,
        max_interval=base.max_interval * scale,
        jitter=base.jitter,
        deadline=None if base.deadline is None else max(60.0, base.deadline * scale),
        coalesce=base.coalesce * scale,
    )


def client_of(ctx: Context) -> AsyncClient:
    """
    A client from the global options; the key from ``--api-key`` or ``AKOOL_API_KEY``.

    Raises:
        UsageError: No key.
    """
    key: str | None = ctx.args.api_key
    if key is None:
        key = os.environ.get("AKOOL_API_KEY", "").strip() or None
    if key is None:
        raise UsageError("no API key: pass --api-key or set AKOOL_API_KEY")
    ctx.configure_logging(key)
    return AsyncClient(
        api_key=key,
        base_url=ctx.args.base_url,
        webhook_url=getattr(ctx.args, "webhook_url", None),
        poll_policy=_policy(ctx.args.time_scale),
        transport=ctx.transport,
    )


def resume_command(args: argparse.Namespace, handle: Any) -> str:
    """
    The command that waits for an image again, from any shell.
    """
    parts = ["a1art"]
    if args.base_url:
        parts += ["--base-url", args.base_url]
    if args.time_scale is not None:
        parts += ["--time-scale", f"{args.time_scale:g}"]
    parts += ["akool", "get", handle.to_token(), "--wait"]
    if getattr(args, "out", None):
        parts += ["--out", args.out]
    return shlex.join(parts)


def image_json(image: Image) -> dict[str, Any]:
    """
    An image as ``--json`` prints it, its status by name.
    """
    body: dict[str, Any] = jsonable(image)
    body["status"] = image.status.name.lower()
    body["status_code"] = int(image.status)
    return body


def _show(image: Image, path: Path | None, credits: CostEstimate | None, console: Console) -> None:
    rows = table("", "")
    rows.show_header = False
    rows.add_row("image", image.id)
    rows.add_row("status", image.status.name.lower())
    if image.op_button:
        rows.add_row("pressed", f"{image.op_button} on {image.image_content_model_id}")
    if image.create_time is not None:
        rows.add_row("created", image.create_time.isoformat(sep=" "))
    if image.buttons:
        rows.add_row("buttons", " ".join(image.buttons))
    credit = image.deduction_credit if credits is None else credits
    if credit is not None:
        rows.add_row("credits", str(credit))
    console.print(rows)
    if image.image:
        console.print(f"result   {image.image}", markup=False)
    if path is not None:
        console.print(f"saved    {path}", markup=False)


async def _wait(ctx: Context, handle: ImageHandle) -> Image:
    console = ctx.progress_console()
    timeout = ctx.timeout
    if not animated(console):
        console.print(f"waiting for image {handle.task_id}", markup=False)
        return await handle.result(timeout=timeout)
    started = anyio.current_time()
    result: list[Image] = []

    def text() -> str:
        elapsed = elapsed_text(anyio.current_time() - started)
        return f"image {handle.task_id}: {handle.state.name.lower()} · {elapsed}"

    with console.status(text()) as status:
        async with anyio.create_task_group() as group:

            async def wait() -> None:
                result.append(await handle.result(timeout=timeout))
                group.cancel_scope.cancel()

            group.start_soon(wait)
            while True:
                await anyio.sleep(0.1)
                status.update(text())
    return result[0]


async def _finish(
    ctx: Context,
    client: AsyncClient,
    handle: ImageHandle,
    *,
    wait: bool,
    credits: CostEstimate | None = None,
) -> ExitCode:
    if wait:
        try:
            image = await _wait(ctx, handle)
        except TaskTimeoutError:
            resume = resume_command(ctx.args, handle)
            ctx.progress_console().print(f"the image goes on; resume: {resume}", markup=False)
            raise
    else:
        image = await handle.refresh()
    path = None
    if ctx.args.out and image.status is ImageStatus.COMPLETED:
        path = await client.images.download(image, ctx.args.out)
    body: dict[str, Any] = {
        "image": image_json(image),
        "files": [] if path is None else [str(path)],
    }
    if credits is not None:
        body["credits"] = credits.high
    ctx.out.emit(body, lambda console: _show(image, path, credits, console))
    return ExitCode.TASK_FAILED if image.status is ImageStatus.FAILED else ExitCode.OK


def _submitted(ctx: Context, handle: ImageHandle, credits: CostEstimate) -> ExitCode:
    token = handle.to_token()

    def text(console: Console) -> None:
        console.print(f"image    {handle.task_id}", markup=False)
        console.print(f"credits  {credits}", markup=False)
        console.print(f"token    {token}", markup=False)
        console.print(f"resume:  {resume_command(ctx.args, handle)}", markup=False)

    body = {
        "image_id": handle.task_id,
        "token": token,
        "status": "submitted",
        "credits": credits.high,
    }
    ctx.out.emit(body, text)
    return ExitCode.OK


#: How a refused field is named on this command line.
_FLAGS: Final = {
    "prompt": "--prompt",
    "scale": "--scale",
    "source_image": "--source-image",
    "webhook_url": "--webhook-url",
    "image_id": "IMAGE_ID",
    "button": "BUTTON",
}


def _check(build: Any) -> None:
    """
    Build a request to check the arguments before anything is sent; a refused field is
    named by its flag.

    Raises:
        UsageError: ``--scale: must be one of ...``.
    """
    try:
        build()
    except ValidationError as error:
        raise UsageError(f"{_FLAGS.get(error.field, error.field)}: {error.reason}") from None


async def create(ctx: Context) -> ExitCode:
    """
    ``a1art akool create --prompt TEXT [--scale S] [--source-image URL]``.
    """
    args = ctx.args
    check_out(args.out)
    ctx.interrupts.resume = resume_command
    _check(lambda: CreateRequest(args.prompt, args.scale, args.source_image, args.webhook_url))
    async with client_of(ctx) as client:
        credits = client.images.estimate("prompt")
        handle = await ctx.interrupts.submit(
            lambda: client.images.create(
                args.prompt, scale=args.scale, source_image=args.source_image
            ),
            credits=credits,
            listening=client.listening,
        )
        if not args.wait:
            return _submitted(ctx, handle, credits)
        return await _finish(ctx, client, handle, wait=True, credits=credits)


async def press(ctx: Context) -> ExitCode:
    """
    ``a1art akool press IMAGE_ID BUTTON``.
    """
    args = ctx.args
    check_out(args.out)
    ctx.interrupts.resume = resume_command
    _check(lambda: PressRequest(args.image_id, args.button, args.webhook_url))
    async with client_of(ctx) as client:
        credits = client.images.estimate("button")
        handle = await ctx.interrupts.submit(
            lambda: client.images.press(args.image_id, args.button),
            credits=credits,
            listening=client.listening,
        )
        if not args.wait:
            return _submitted(ctx, handle, credits)
        return await _finish(ctx, client, handle, wait=True, credits=credits)


async def get(ctx: Context) -> ExitCode:
    """
    ``a1art akool get IMAGE_ID|TOKEN [--wait] [--out DIR]``.
    """
    ref: str = ctx.args.image.strip()
    check_out(ctx.args.out)
    ctx.interrupts.resume = resume_command
    async with client_of(ctx) as client:
        images = client.images
        handle = images.resume(ref) if ref.startswith("{") else images.track(ref)
        ctx.interrupts.follow(handle)
        if ctx.args.wait:
            await handle.refresh()  # an image that has ended needs no wait
        return await _finish(ctx, client, handle, wait=ctx.args.wait)
