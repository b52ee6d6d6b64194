"""
The argument parser.

Global options are accepted before or after the command (``a1art --json task ID`` and
``a1art task ID --json``): each subcommand gets a copy whose defaults are suppressed, so
that only options actually given there override the top level's.
"""

from __future__ import annotations

import argparse
from typing import Any

from .._version import __version__
from ..akool._cli import add_commands as add_akool_commands
from ..gateway._cli import add_commands as add_gateway_commands
from ._exit import UsageError

DESCRIPTION = """\
The a1.art image and video generation Open API from the command line.
Start with `a1art demo`: no key, no network.
"""

EPILOG = """\
exit status: 0 ok, 1 other error, 2 usage (bad arguments, no key, a missing input file,
an --out that is not a writable directory: found before anything is sent), 3 API error,
4 no usable answer (network, timeout, outcome unknown, download), 5 task failed, 6 batch
with failed jobs, 130 interrupted.  Progress goes to stderr, results to stdout.
"""


class _Parser(argparse.ArgumentParser):
    """
    Usage errors raise :class:`UsageError` instead of exiting, so that ``--json`` and
    the exit status are handled in one place.
    """

    def error(self, message: str) -> Any:  # argparse's signature returns NoReturn
        raise UsageError(f"{message} (see {self.prog} --help)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _api_key(text: str) -> str:
    # An empty key is a mistake (an unset shell variable, say), never a reason to fall
    # back to A1ART_API_KEY silently.
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "the key is empty (leave --api-key out to use A1ART_API_KEY)"
        )
    return text


def _global_options(top_level: bool) -> _Parser:
    def default(value: Any) -> Any:
        return value if top_level else argparse.SUPPRESS

    parser = _Parser(add_help=False)
    group = parser.add_argument_group("global options")
    group.add_argument(
        "--api-key",
        type=_api_key,
        default=default(None),
        metavar="KEY",
        help="the API key (default: $A1ART_API_KEY); never printed",
    )
    group.add_argument(
        "--base-url",
        default=default(None),
        metavar="URL",
        help="another API origin, e.g. a loopback emulator (http:// only on loopback)",
    )
    group.add_argument(
        "--region",
        choices=("global", "cn"),
        default=default("global"),
        help="global (https://a1.art) or cn (the China domain, section: cn)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print results (and errors) on stdout as one JSON document",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default(False),
        help="debug logs on stderr (the key is never logged)",
    )
    group.add_argument(
        "--time-scale",
        type=_positive_float,
        default=default(None),
        metavar="F",
        help="multiply polling waits by F, to match an emulator run with --time-scale F",
    )
    return parser


def _add_wait_options(parser: argparse.ArgumentParser, *, wait_flag: str) -> None:
    if wait_flag == "--no-wait":
        parser.add_argument(
            "--no-wait",
            dest="wait",
            action="store_false",
            help="print the task id and a resume token instead of waiting",
        )
    else:
        parser.add_argument(
            "--wait", action="store_true", help="wait until the task completes or fails"
        )
    parser.add_argument(
        "--out", metavar="DIR", help="save the result files here (default: print the URLs)"
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="give up waiting after this long (default: 600); the task goes on",
    )


def _add_akool_base_url(parser: argparse.ArgumentParser) -> None:
    # --base-url is a1.art's; the gateway's address comes from GATEWAY_BASE_URL.
    parser.add_argument(
        "--akool-base-url",
        metavar="URL",
        help="another akool origin for the file's akool rows, e.g. a loopback emulator "
        "(the key: $AKOOL_API_KEY; gateway rows: $GATEWAY_API_KEY, $GATEWAY_BASE_URL)",
    )


def build_parser() -> argparse.ArgumentParser:
    """
    The ``a1art`` parser; ``args.handler`` is the name of the command to run.
    """
    parser = _Parser(
        prog="a1art",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_global_options(top_level=True)],
    )
    parser.add_argument("--version", action="version", version=f"a1art {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    common: list[_Parser] = [_global_options(top_level=False)]

    def command(name: str, help_text: str, handler: str, **kwargs: Any) -> Any:
        sub = commands.add_parser(
            name, help=help_text, description=help_text, parents=common, **kwargs
        )
        sub.set_defaults(handler=handler)
        return sub

    demo = command(
        "demo",
        "run about two dozen jobs against the built-in emulator: no key, no network",
        "demo",
    )
    demo.add_argument(
        "--out", default="a1art-demo", metavar="DIR", help="where to save results (a1art-demo)"
    )

    apps = commands.add_parser("apps", help="app details", description="App details.")
    app_commands = apps.add_subparsers(dest="apps_command", metavar="SUBCOMMAND")
    app_commands.required = True
    show = app_commands.add_parser(
        "show",
        help="an app's forms, inputs, tags, styles, sizes, cost and processing time",
        description="An app's forms, inputs, tags, styles, sizes, cost and processing time.",
        parents=common,
    )
    show.set_defaults(handler="apps_show")
    show.add_argument("app_id", metavar="APP_ID")
    show.add_argument("--language", metavar="LANG", help="e.g. en_US, zh_CN, ja_JP")

    upload = command("upload", "upload an image (a file or an http(s) URL)", "upload")
    upload.add_argument("source", metavar="FILE|URL")

    generate = command("generate", "generate images or a video with an app", "generate")
    generate.add_argument("app_id", metavar="APP_ID")
    generate.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="FILE|URL",
        help="the picture; repeat for group photos, in position order",
    )
    generate.add_argument("--prompt", help="the text of the app's (first) description input")
    generate.add_argument("--tag", help="a tag of the first description input")
    generate.add_argument("--style", help="a style's name or id (see apps show)")
    generate.add_argument("--aspect", help="an aspect such as 16:9, or a sizeId")
    generate.add_argument(
        "--count", type=_positive_int, default=1, metavar="N", help="images, 1-4 (1)"
    )
    generate.add_argument("--language", metavar="LANG", help="read the app in this language")
    _add_wait_options(generate, wait_flag="--no-wait")

    enhance = command("enhance", 'enhance ("fine drawing") an image: 3 credits', "enhance")
    enhance.add_argument("source", metavar="FILE|URL")
    _add_wait_options(enhance, wait_flag="--no-wait")

    task = command("task", "a task's state and results, by id or resume token", "task")
    task.add_argument("task", metavar="TASK_ID|TOKEN")
    _add_wait_options(task, wait_flag="--wait")

    batch = command(
        "batch",
        "run a JSONL or CSV file of jobs with a journal; run it again to resume",
        "batch",
    )
    batch.add_argument("jobs", metavar="JOBS.jsonl|JOBS.csv")
    batch.add_argument(
        "--concurrency",
        type=_positive_int,
        default=8,
        metavar="N",
        help="jobs uploaded and submitted at once (8)",
    )
    batch.add_argument(
        "--journal",
        metavar="FILE|DSN",
        help="the SQLite journal (default: JOBS.journal.sqlite beside the jobs file), or a "
        "postgresql:// URL: the batch is then shared by workers on many machines",
    )
    batch.add_argument(
        "--batch",
        metavar="NAME",
        help="with a postgresql:// journal: the batch's name (default: the jobs file's name)",
    )
    batch.add_argument(
        "--workers",
        type=_non_negative_int,
        metavar="N",
        help="with a postgresql:// journal: shards this process works on at once "
        "(0: enqueue only; default 1)",
    )
    batch.add_argument(
        "--shard-size",
        type=_positive_int,
        metavar="N",
        help="with a postgresql:// journal: jobs per shard, the unit workers take (1000)",
    )
    batch.add_argument("--out", metavar="DIR", help="save result files here as they finish")
    batch.add_argument(
        "--budget",
        type=_non_negative_int,
        metavar="CREDITS",
        help="never submit a job that could take the spend over this",
    )
    batch.add_argument(
        "--estimate",
        action="store_true",
        help="print the credits the jobs would cost, and exit without spending",
    )
    batch.add_argument(
        "--resubmit-unknown",
        action="store_true",
        help="resubmit jobs whose earlier generate may have been charged",
    )
    batch.add_argument("--language", metavar="LANG", help="read apps in this language")
    _add_akool_base_url(batch)

    worker = command(
        "worker",
        "work on the shards of batches in a postgresql:// journal (any machine)",
        "worker",
    )
    worker.add_argument("--journal", required=True, metavar="DSN", help="postgresql:// URL")
    worker.add_argument("--batch", metavar="NAME", help="this batch only (default: every batch)")
    worker.add_argument(
        "--until-done", action="store_true", help="stop once no shard is queued or running"
    )
    worker.add_argument(
        "--shards", type=_positive_int, default=2, metavar="N", help="shards at once (2)"
    )
    worker.add_argument(
        "--concurrency",
        type=_positive_int,
        default=8,
        metavar="N",
        help="jobs of a shard submitted at once (8)",
    )
    worker.add_argument("--out", metavar="DIR", help="save result files here, on this machine")
    worker.add_argument(
        "--heartbeat", type=_positive_float, default=2.0, metavar="S", help=argparse.SUPPRESS
    )
    worker.add_argument(
        "--stalled-after",
        type=_positive_float,
        default=10.0,
        metavar="S",
        help="seconds without a worker's heartbeat before its shards are queued again (10)",
    )
    _add_akool_base_url(worker)

    status = command(
        "status", "a distributed batch's board, from its postgresql:// journal", "status"
    )
    status.add_argument("--journal", required=True, metavar="DSN", help="postgresql:// URL")
    status.add_argument("--batch", required=True, metavar="NAME", help="the batch's name")

    add_akool_commands(commands, common)

    add_gateway_commands(commands, common)

    emulator = commands.add_parser(
        "emulator", help="the API emulator", description="The API emulator."
    )
    emulator_commands = emulator.add_subparsers(dest="emulator_command", metavar="SUBCOMMAND")
    emulator_commands.required = True
    serve = emulator_commands.add_parser(
        "serve",
        help="serve the emulator on loopback HTTP (options: a1art emulator serve --help)",
        add_help=False,
    )
    serve.set_defaults(handler="emulator_serve")
    return parser


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """
    Parse *argv*; the second item holds what only ``emulator serve`` may receive.

    Raises:
        UsageError: The arguments are wrong.
    """
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.handler != "emulator_serve":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    journal = getattr(args, "journal", None)
    if args.handler == "batch" and journal and journal.startswith(SHARED_JOURNALS):
        args.handler = "batch_shared"  # a batch shared by workers (_distributed)
    return args, extra


#: ``--journal`` values that name a PostgreSQL journal.
SHARED_JOURNALS = ("postgresql://", "postgres://")
