"""
``python -m a1art_async.testing serve``: the a1.art emulator on loopback HTTP.

The kit's server (see :mod:`.._kit._server`) with a1.art's options (``--api-key``,
``--balance``, ``--vip``) and an ``api_key=`` line after the kit's banner.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Final

from .._kit import FaultKnobs
from .._kit._server import EXIT_STATUSES, add_server_options, run
from ._emulator import Emulator
from ._faults import Faults

PROG: Final = "python -m a1art_async.testing"
DEFAULT_KEY: Final = "emulator-key"

_DESCRIPTION: Final = f"Serve the a1.art Open API emulator on loopback HTTP. {EXIT_STATUSES}"


def _api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api-key", default=DEFAULT_KEY, help=f"the API key ({DEFAULT_KEY})")
    parser.add_argument("--balance", type=int, default=1000, help="credits of that key (1000)")
    parser.add_argument("--vip", action="store_true", help="let that key use the VIP app")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Run the a1.art Open API emulator.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="serve the emulator on loopback HTTP", description=_DESCRIPTION
    )
    add_server_options(serve, _api_options)
    return parser


def _make(
    args: argparse.Namespace, api_origin: str, cdn_origin: str, faults: FaultKnobs
) -> Emulator:
    assert isinstance(faults, Faults)
    return Emulator(
        args.api_key,
        balance=args.balance,
        time_scale=args.time_scale,
        seed=args.seed,
        api_origin=api_origin,
        cdn_origin=cdn_origin,
        # One CDN socket serves both regions; `section: cn` changes nothing over loopback.
        cdn_cn_origin=cdn_origin,
        vip=args.vip,
        faults=faults,
    )


def _banner(emulator: Emulator) -> list[str]:
    return [f"api_key={emulator.api_key}"]


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace, prog: str) -> int:
    return run(parser, args, prog, faults_class=Faults, make=_make, banner=_banner)


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run ``python -m a1art_async.testing``.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` by default.

    Returns:
        The exit status of :func:`serve`.

    Raises:
        SystemExit: From argparse, for a missing command, bad arguments or ``--help``.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    return _run(parser, args, f"{PROG} {args.command}")


def serve(argv: Sequence[str], *, prog: str = f"{PROG} serve") -> int:
    """
    Serve the a1.art emulator on loopback until SIGINT or SIGTERM.

    Args:
        argv: The ``serve`` options (``--port``, ``--time-scale``, ``--fault``...).
        prog: The command's name in usage text and in its error lines.

    Returns:
        0 after SIGTERM, 130 after Ctrl-C (SIGINT), 1 when a port cannot be bound, 2 when
        uvicorn is missing.

    Raises:
        SystemExit: From argparse (status 2), for bad arguments or an invalid ``--fault``,
            and for ``--help`` (status 0).
    """
    parser = argparse.ArgumentParser(prog=prog, description=_DESCRIPTION)
    add_server_options(parser, _api_options)
    return _run(parser, parser.parse_args(argv), prog)
