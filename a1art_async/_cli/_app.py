"""
:func:`run`: parse, dispatch, and turn every error into one line and an exit status.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import sys
import traceback
from collections.abc import Awaitable, Callable, Sequence
from typing import TextIO, cast

import anyio
import httpx

from ._args import parse
from ._context import Context
from ._exit import ExitCode, UsageError, describe, error_json, exit_code
from ._fields import FLAGS
from ._serve import serve

Command = Callable[[Context], Awaitable[ExitCode]]

#: Each command's module (in this package, or a full module path) and function, imported
#: when it runs (the demo's emulator is not loaded for the other commands).
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("_demo", "demo"),
    "apps_show": ("_commands", "apps_show"),
    "upload": ("_commands", "upload"),
    "generate": ("_commands", "generate"),
    "enhance": ("_commands", "enhance"),
    "task": ("_commands", "task"),
    "batch": ("_batch", "batch"),
    # `batch` with a postgresql:// journal (see _args.parse).
    "batch_shared": ("_distributed", "batch"),
    "worker": ("_distributed", "worker"),
    "status": ("_distributed", "status"),
    "akool_create": ("a1art_async.akool._cli", "create"),
    "akool_press": ("a1art_async.akool._cli", "press"),
    "akool_get": ("a1art_async.akool._cli", "get"),
    "gateway_generate": ("a1art_async.gateway._cli", "generate"),
    "gateway_task": ("a1art_async.gateway._cli", "task"),
}


def _command(handler: str) -> Command:
    module, name = COMMANDS[handler]
    path = module if "." in module else f"{__package__}.{module}"  # full paths as given
    return cast(Command, getattr(importlib.import_module(path), name))


def _leaf(error: BaseException) -> BaseException:
    """
    The error that matters inside exception groups from task groups: the first one that
    is not a cancellation.
    """
    while isinstance(error, BaseExceptionGroup):
        inner = [e for e in error.exceptions if not isinstance(e, anyio.get_cancelled_exc_class())]
        error = (inner or list(error.exceptions))[0]
    return error


def _report(error: BaseException, *, json_mode: bool, verbose: bool, ctx: Context | None) -> int:
    status = exit_code(error)
    stdout = sys.stdout if ctx is None else ctx.stdout
    stderr = sys.stderr if ctx is None else ctx.stderr
    if verbose and status is ExitCode.ERROR:
        traceback.print_exception(error, file=stderr)
    names = FLAGS if ctx is None else ctx.names
    print(f"a1art: {describe(error, names)}", file=stderr)
    if json_mode:
        body = {"error": error_json(error, names)}
        print(json.dumps(body, ensure_ascii=False, indent=2), file=stdout)
    return int(status)


def _report_interrupt(ctx: Context) -> int:
    """
    Say that the command was interrupted, and what goes on (once).
    """
    interrupts = ctx.interrupts
    if not interrupts.reported:
        interrupts.reported = True
        for line in interrupts.lines(ctx.args):
            print(line, file=ctx.stderr, flush=True)
        if ctx.args.json and not interrupts.delivered:
            body = {"error": interrupts.json(ctx.args)}
            print(json.dumps(body, ensure_ascii=False, indent=2), file=ctx.stdout, flush=True)
    return int(ExitCode.INTERRUPTED)


async def _run_command(ctx: Context, *, sigint: bool) -> ExitCode | None:
    """
    The command's status, or ``None`` when an interrupt stopped it.
    """
    command = _command(ctx.args.handler)
    interrupts = ctx.interrupts
    if not sigint:
        with interrupts.scope():
            return await command(ctx)
        return None
    status: ExitCode | None = None
    async with anyio.create_task_group() as group:
        await group.start(interrupts.watch_sigint)
        with interrupts.scope():
            status = await command(ctx)
        group.cancel_scope.cancel()
    return status


async def run_context(ctx: Context, *, sigint: bool = False) -> int:
    """
    Run the command of *ctx* on the running event loop and return its exit status.

    Args:
        ctx: The parsed arguments, streams and transport.
        sigint: Handle Ctrl-C here (see ``_interrupt``), for the real command line.
    """
    ctx.configure_logging()
    try:
        status = await _run_command(ctx, sigint=sigint)
    except anyio.get_cancelled_exc_class():
        # Cancelled from outside (or by asyncio's own Ctrl-C handling): say what goes on.
        _report_interrupt(ctx)
        raise
    except Exception as error:  # every error ends as one line and a status
        return _report(_leaf(error), json_mode=ctx.args.json, verbose=ctx.args.verbose, ctx=ctx)
    finally:
        ctx.close()
    if status is None:
        return _report_interrupt(ctx)
    if ctx.interrupts.stopped:
        # A stopped batch printed its summary, the command's one document.
        ctx.interrupts.delivered = True
        return _report_interrupt(ctx)
    return int(status)


async def run_parsed(
    args: argparse.Namespace,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    """
    Run a parsed command (any but ``emulator serve``) on the running event loop.

    Args:
        args: What :func:`parse` returned.
        stdout: Results go here (``sys.stdout`` by default).
        stderr: Progress, logs and errors go here (``sys.stderr`` by default).
        transport: An httpx transport for the client, e.g. an emulator's (for tests).
    """
    return await run_context(Context(args, stdout=stdout, stderr=stderr, transport=transport))


def run(argv: Sequence[str]) -> int:
    """
    Run ``a1art`` with *argv* (without the program name) and return the exit status.
    """
    argv = list(argv)
    try:
        args, extra = parse(argv)
    except UsageError as error:
        return _report(error, json_mode="--json" in argv, verbose=False, ctx=None)
    except SystemExit as done:  # --help, --version
        return done.code if isinstance(done.code, int) else 0
    if args.handler == "emulator_serve":
        return serve(extra)
    ctx = Context(args)
    try:
        return anyio.run(functools.partial(run_context, ctx, sigint=True))
    except KeyboardInterrupt:  # before SIGINT was handled, or where it cannot be
        return _report_interrupt(ctx)
