"""
``python -m a1art_async.testing.gateway serve``: the gateway emulator on loopback HTTP.

The kit's server (see :mod:`.._kit._server`) with the gateway's ``--api-key`` option,
and an ``api_key=`` line after the kit's ``base_url=`` and ``cdn_url=`` (the file host).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Final

from .._kit import FaultKnobs
from .._kit._server import EXIT_STATUSES, add_server_options, run
from ._emulator import Emulator
from ._faults import Faults

PROG: Final = "python -m a1art_async.testing.gateway"
DEFAULT_KEY: Final = "gateway-key"

_DESCRIPTION: Final = f"Serve the AI gateway emulator on loopback HTTP. {EXIT_STATUSES}"


def _api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api-key", default=DEFAULT_KEY, help=f"the API key ({DEFAULT_KEY})")


def _make(
    args: argparse.Namespace, api_origin: str, files_origin: str, faults: FaultKnobs
) -> Emulator:
    assert isinstance(faults, Faults)
    return Emulator(
        args.api_key,
        time_scale=args.time_scale,
        seed=args.seed,
        api_origin=api_origin,
        files_origin=files_origin,
        faults=faults,
    )


def _banner(emulator: Emulator) -> list[str]:
    return [f"api_key={emulator.api_key}"]


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace, prog: str) -> int:
    return run(parser, args, prog, faults_class=Faults, make=_make, banner=_banner)


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run ``python -m a1art_async.testing.gateway``.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` by default.

    Returns:
        The exit status of :func:`serve`.

    Raises:
        SystemExit: From argparse, for a missing command, bad arguments or ``--help``.
    """
    parser = argparse.ArgumentParser(prog=PROG, description="Run the AI gateway emulator.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser(
        "serve", help="serve the emulator on loopback HTTP", description=_DESCRIPTION
    )
    add_server_options(serve_parser, _api_options)
    args = parser.parse_args(argv)
    return _run(serve_parser, args, f"{PROG} {args.command}")


def serve(argv: Sequence[str], *, prog: str = f"{PROG} serve") -> int:
    """
    Serve the gateway emulator on loopback until SIGINT or SIGTERM.

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
