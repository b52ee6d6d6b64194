"""
The gateway on the command line: ``a1art gateway generate`` and ``a1art gateway task``,
and :func:`batch_job` (in ``_rows``, which needs no ``cli`` extra), which turns one row
of a job file into a batch job.

::

    a1art gateway generate --model M --prompt TEXT [--param KEY=VALUE ...] [--out DIR]
                           [--no-wait] [--timeout S] [--sync-timeout S]
    a1art gateway task TASK_ID|TOKEN [--model M] [--wait] [--out DIR] [--timeout S]

The key comes from ``--api-key`` or ``GATEWAY_API_KEY``, the gateway's address from
``--base-url`` or ``GATEWAY_BASE_URL`` (the docs give none).  Output, errors and exit
statuses follow the other commands (``_cli/_exit.py``): results on stdout (``--json``:
one document), progress on stderr, 3 for an API error, 4 for no usable answer (a
generation whose outcome is unknown), 5 for a failed task.  A synchronous model's
answer is the result: it is shown (and saved) as soon as it arrives, even when Ctrl-C
came while it was on its way.  Images that came as bytes have no URL to print, so
without ``--out`` they are saved in the current directory.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

import anyio
from rich.console import Console

from .._cli._context import Context, scaled_policy
from .._cli._exit import ExitCode, UsageError, describe
from .._cli._interrupt import resume_command
from .._cli._local import check_out
from .._cli._output import table
from .._cli._progress import REFRESH, animated, elapsed_text
from .._engine._cost import CostEstimate
from .._engine._errors import TaskFailedError, TaskTimeoutError, ValidationError
from .._engine._handles import JobStatus
from ._client import AsyncClient
from ._config import BASE_URL_VARIABLE, KEY_VARIABLE
from ._jobs import Generation
from ._models import GenerationRequest, Image, Result, Task
from ._rows import ROW_COLUMNS as ROW_COLUMNS
from ._rows import batch_job as batch_job

#: The task command of this API, for the line that resumes a wait.
TASK_COMMAND: Final = ("gateway", "task")
#: The flags that set a generation request's fields (any other is a ``--param``).
_FLAGS: Final = {"model": "--model", "prompt": "--prompt"}


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", metavar="DIR", help="save the images here (default: print the URLs)"
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="give up waiting for a task after this long (default: 600); it goes on",
    )


def add_commands(commands: Any, common: Sequence[argparse.ArgumentParser]) -> None:
    """
    Add ``gateway generate`` and ``gateway task`` to the ``a1art`` parser's commands.

    Args:
        commands: The top-level subparsers action.
        common: The parents every command takes (the global options).
    """
    gateway = commands.add_parser(
        "gateway",
        help="the AI gateway's image generation API ($GATEWAY_BASE_URL, $GATEWAY_API_KEY)",
        description="The AI gateway's image generation API: one call that answers now or "
        f"later.  The key: --api-key or ${KEY_VARIABLE}; the gateway: --base-url or "
        f"${BASE_URL_VARIABLE}.",
    )
    subcommands = gateway.add_subparsers(dest="gateway_command", metavar="SUBCOMMAND")
    subcommands.required = True
    generate_text = "generate images with a model; a synchronous model answers at once"
    generate = subcommands.add_parser(
        "generate", help=generate_text, description=generate_text, parents=list(common)
    )
    generate.set_defaults(handler="gateway_generate", task_command=TASK_COMMAND)
    generate.add_argument("--model", required=True, metavar="MODEL", help="the model's name")
    generate.add_argument("--prompt", help="the prompt (sent as the prompt parameter)")
    generate.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a vendor parameter; VALUE is read as JSON when it parses (n=2, "
        'size=1024x1024, input=\'{"prompt": "..."}\'), else as text; repeat for more',
    )
    generate.add_argument(
        "--no-wait",
        dest="wait",
        action="store_false",
        help="for a task, print its id and a resume token instead of waiting",
    )
    generate.add_argument(
        "--sync-timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="how long the generation request may take to answer (300); past it the "
        "outcome is unknown and nothing is resent",
    )
    _output_options(generate)
    task_text = "a task's state and images, by id or resume token"
    task = subcommands.add_parser(
        "task", help=task_text, description=task_text, parents=list(common)
    )
    task.set_defaults(handler="gateway_task", task_command=TASK_COMMAND)
    task.add_argument("task", metavar="TASK_ID|TOKEN")
    task.add_argument("--model", metavar="MODEL", help="the task's model (noted on the result)")
    task.add_argument("--wait", action="store_true", help="wait until the task ends")
    _output_options(task)


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parameters(args: argparse.Namespace) -> dict[str, Any]:
    """
    The vendor parameters of ``--prompt`` and ``--param KEY=VALUE``.

    Raises:
        UsageError: A ``--param`` without ``=``, or a parameter given twice.
    """
    params: dict[str, Any] = {}
    if args.prompt is not None:
        params["prompt"] = args.prompt
    for text in args.param:
        name, sep, raw = text.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"--param: expected KEY=VALUE, got {text!r}")
        if name in params or name == "model":
            where = "--model" if name == "model" else f"--param {name}"
            raise UsageError(f"--param {name}: given twice (see {where})")
        params[name] = _value(raw)
    return params


#: The command line's credit table: ``MODEL=N`` pairs, comma-separated (the docs give
#: no prices; a model the table does not name costs 1).
CREDITS_VARIABLE: Final = "GATEWAY_CREDITS"


def credits_from_environment() -> dict[str, int]:
    """
    Credits per generation request by model, from ``$GATEWAY_CREDITS``
    (``gpt-image-1=2,seedream-3-0-t2i=3``); empty when it is unset.

    Raises:
        UsageError: A pair that is not ``MODEL=N`` with N a non-negative integer.
    """
    table: dict[str, int] = {}
    for pair in os.environ.get(CREDITS_VARIABLE, "").split(","):
        if not pair.strip():
            continue
        model, equals, number = pair.rpartition("=")
        model = model.strip()
        try:
            credits = int(number.strip())
        except ValueError:
            credits = -1
        if not equals or not model or credits < 0:
            raise UsageError(
                f"{CREDITS_VARIABLE}: {pair.strip()!r} is not MODEL=N (N a whole number "
                "of credits, 0 or more)"
            )
        table[model] = credits
    return table


def client(ctx: Context, *, sync_timeout: float | None = None) -> AsyncClient:
    """
    A gateway client from the global options and the environment.

    Raises:
        UsageError: No key, or no base URL.
    """
    args = ctx.args
    key = args.api_key if args.api_key is not None else os.environ.get(KEY_VARIABLE, "")
    if not key.strip():
        raise UsageError(f"no API key: pass --api-key or set {KEY_VARIABLE}")
    base_url = args.base_url or os.environ.get(BASE_URL_VARIABLE, "")
    if not base_url.strip():
        raise UsageError(
            f"no gateway: pass --base-url or set {BASE_URL_VARIABLE} (the docs give no default)"
        )
    ctx.configure_logging(key.strip())
    options: dict[str, Any] = {} if sync_timeout is None else {"sync_timeout": sync_timeout}
    return AsyncClient(
        api_key=key.strip(),
        base_url=base_url,
        poll_policy=scaled_policy(args.time_scale),
        transport=ctx.transport,
        credits=credits_from_environment(),
        **options,
    )


def _image_json(image: Image) -> dict[str, Any]:
    return {
        "url": image.url,
        "inline": image.inline,
        "content_type": image.content_type,
        "bytes": None if image.data is None else len(image.data),
    }


def _document(
    job: Generation, task: Task | None, files: list[Path], credits: CostEstimate | None
) -> dict[str, Any]:
    status = None if job.status is None else job.status.value
    body: dict[str, Any] = {
        "model": job.model,
        "task_id": job.task_id,
        "synchronous": job.synchronous,
        "status": status or "submitted",
        "state": None if task is None else task.state,
        "images": [] if task is None else [_image_json(image) for image in task.images],
        "files": [str(path) for path in files],
    }
    if task is not None and task.status is JobStatus.FAILED:
        body["error"] = {"code": task.error_code, "message": task.error_message}
    if credits is not None:
        body["credits"] = credits.high
    return body


def _show(
    job: Generation, task: Task | None, files: list[Path], credits: CostEstimate | None
) -> Callable[[Console], None]:
    def text(console: Console) -> None:
        rows = table("", "")
        rows.show_header = False
        rows.add_row("model", job.model or "?")
        rows.add_row("answer" if job.synchronous else "task", job.task_id)
        status = "submitted" if job.status is None else job.status.value
        if task is not None and task.state and task.state.lower() != status:
            status += f" ({task.state})"  # the service's own word
        rows.add_row("state", status)
        if credits is not None:
            rows.add_row("credits", str(credits))
        if task is not None and task.status is JobStatus.FAILED and task.error_message:
            rows.add_row("error", task.error_message)
        console.print(rows)
        saved = {str(path) for path in files}
        for image in [] if task is None else task.images:
            if image.url is not None:
                console.print(f"result   {image.url}", markup=False)
        for path in sorted(saved):
            console.print(f"saved    {path}", markup=False)

    return text


async def _save(client_: AsyncClient, result: Result, out: str | None) -> list[Path]:
    """
    Save the images under *out*; without it only the inline ones, in the current
    directory (they have no URL to print).
    """
    if out is not None:
        return await client_.download(result, out)
    stem = result.task_id or "result"
    return [
        await image.save(".", f"{stem}-{n}")
        for n, image in enumerate(result.images)
        if image.inline
    ]


async def _deliver(
    ctx: Context, client_: AsyncClient, job: Generation, credits: CostEstimate | None
) -> ExitCode:
    """
    Print (and save) a generation that has ended.
    """
    task = job.task
    files: list[Path] = []
    failed = job.status is JobStatus.FAILED
    if not failed:
        files = await _save(client_, await job.result(), ctx.args.out)
    ctx.out.emit(_document(job, task, files, credits), _show(job, task, files, credits))
    # The document is the command's one answer, a failure included (its error is in it):
    # an interrupt from here on adds no second one.
    ctx.interrupts.delivered = True
    if not failed:
        return ExitCode.OK
    try:
        await job.result()
    except TaskFailedError as error:  # the failure, said once on stderr too
        print(f"a1art: {describe(error)}", file=ctx.stderr)
    return ExitCode.TASK_FAILED


async def _wait(ctx: Context, job: Generation) -> None:
    """
    Wait for a task, with a spinner on a terminal or one line elsewhere.
    """
    console = ctx.progress_console()
    timeout = ctx.timeout
    try:
        if not animated(console):
            console.print(f"waiting for task {job.task_id}", markup=False)
            await job.result(timeout=timeout)
            return
        started = anyio.current_time()
        failure: Exception | None = None

        async def wait() -> None:
            nonlocal failure
            try:
                await job.result(timeout=timeout)
            except Exception as error:  # raised below, outside the task group
                failure = error
            group.cancel_scope.cancel()

        def status() -> str:
            where = job.state or "submitted"
            return f"task {job.task_id}: {where} · {elapsed_text(anyio.current_time() - started)}"

        with console.status(status()) as shown:
            async with anyio.create_task_group() as group:
                group.start_soon(wait)
                while True:
                    await anyio.sleep(REFRESH)
                    shown.update(status())
        if failure is not None:
            raise failure
    except TaskTimeoutError:
        console.print(f"the task goes on; resume: {resume_command(ctx.args, job)}", markup=False)
        raise
    except Exception:  # a failed task is reported with what it said
        if job.done:
            return
        raise


def _submitted(ctx: Context, job: Generation, credits: CostEstimate) -> ExitCode:
    token = job.to_token()
    resume = resume_command(ctx.args, job)

    def text(console: Console) -> None:
        console.print(f"task     {job.task_id}", markup=False)
        console.print(f"credits  {credits}", markup=False)
        console.print(f"token    {token}", markup=False)
        console.print(f"resume:  {resume}", markup=False)

    body = _document(job, None, [], credits)
    body.update(token=token, resume=resume)
    ctx.out.emit(body, text)
    return ExitCode.OK


async def generate(ctx: Context) -> ExitCode:
    """
    ``a1art gateway generate --model M --prompt ... [--param KEY=VALUE ...]``.
    """
    args = ctx.args
    check_out(args.out)
    try:
        request = GenerationRequest.of(args.model, parameters(args))
    except ValidationError as error:  # named by the flag that set it; nothing was sent
        flag = _FLAGS.get(error.field, f"--param {error.field}")
        raise UsageError(f"{flag}: {error.reason}") from None
    async with client(ctx, sync_timeout=args.sync_timeout) as gateway:
        credits = gateway.estimate_cost(request.model)
        delivered: ExitCode | None = None

        async def send() -> Generation:
            nonlocal delivered
            job = await gateway.images.submit(request.model, **request.params)
            if job.done:
                # The answer is the result, paid for: show it before an interrupt can
                # take effect (the send is shielded from the first Ctrl-C).
                delivered = await _deliver(ctx, gateway, job, credits)
            return job

        job = await ctx.interrupts.submit(send, credits=credits, listening=gateway.listening)
        if delivered is not None:
            return delivered
        if not args.wait:
            return _submitted(ctx, job, credits)
        await _wait(ctx, job)
        return await _deliver(ctx, gateway, job, credits)


async def task(ctx: Context) -> ExitCode:
    """
    ``a1art gateway task TASK_ID|TOKEN [--wait] [--out DIR]``.
    """
    args = ctx.args
    ref: str = args.task.strip()
    check_out(args.out)
    async with client(ctx) as gateway:
        if ref.startswith("{"):
            job = gateway.tasks.resume(ref)
        else:
            job = gateway.tasks.track(ref, model=args.model)
        ctx.interrupts.follow(job)
        # One query now: a task that has ended needs no wait for a scheduled poll.
        await job.refresh()
        if args.wait and not job.done:
            await _wait(ctx, job)
        if job.done:
            return await _deliver(ctx, gateway, job, None)
        ctx.out.emit(_document(job, job.task, [], None), _show(job, job.task, [], None))
        return ExitCode.OK
