"""
:func:`run`: parse, dispatch, and turn every error into one line and an exit status.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Awaitable, Callable, Sequence

import anyio

from . import _batch, _commands, _demo
from ._args import parse
from ._context import Context
from ._exit import ExitCode, UsageError, describe, error_json, exit_code
from ._serve import serve

Command = Callable[[Context], Awaitable[ExitCode]]

COMMANDS: dict[str, Command] = {
    "demo": _demo.demo,
    "apps_show": _commands.apps_show,
    "upload": _commands.upload,
    "generate": _commands.generate,
    "enhance": _commands.enhance,
    "task": _commands.task,
    "batch": _batch.batch,
}


def _leaf(error: BaseException) -> BaseException:
    """
    The error that matters inside exception groups from task groups: the first one that
    is not a cancellation.
    """
    while isinstance(error, BaseExceptionGroup):
        inner = [e for e in error.exceptions if not isinstance(e, anyio.get_cancelled_exc_class())]
        error = (inner or list(error.exceptions))[0]
    return error


def _report(error: BaseException, *, json_mode: bool, verbose: bool) -> int:
    status = exit_code(error)
    if verbose and status is ExitCode.ERROR:
        traceback.print_exception(error, file=sys.stderr)
    print(f"a1art: {describe(error)}", file=sys.stderr)
    if json_mode:
        print(json.dumps({"error": error_json(error)}, ensure_ascii=False, indent=2))
    return int(status)


def run(argv: Sequence[str]) -> int:
    """
    Run ``a1art`` with *argv* (without the program name) and return the exit status.
    """
    argv = list(argv)
    json_mode = "--json" in argv
    try:
        args, extra = parse(argv)
    except UsageError as error:
        return _report(error, json_mode=json_mode, verbose=False)
    except SystemExit as done:  # --help, --version
        return done.code if isinstance(done.code, int) else 0
    if args.handler == "emulator_serve":
        return serve(extra)
    ctx = Context(args)
    ctx.configure_logging()
    try:
        return int(anyio.run(COMMANDS[args.handler], ctx))
    except KeyboardInterrupt:
        hint = "; run the same command again to resume" if args.handler == "batch" else ""
        print(f"a1art: interrupted{hint}", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except Exception as error:  # every error ends as one line and a status
        leaf = _leaf(error)
        if isinstance(leaf, KeyboardInterrupt):
            print("a1art: interrupted", file=sys.stderr)
            return int(ExitCode.INTERRUPTED)
        return _report(leaf, json_mode=args.json, verbose=args.verbose)
    finally:
        ctx.close()
