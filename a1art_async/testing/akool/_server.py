"""
``python -m a1art_async.testing.akool serve``: the akool emulator on loopback HTTP.

The kit's server (see :mod:`.._kit._server`) with akool's options (``--api-key``,
``--client-id``) and ``api_key=`` and ``client_id=`` lines after the kit's banner.
With ``--webhooks`` it sends the webhooks of images that ask for one, over real HTTP to
their ``webhookUrl`` (in process, ``Emulator.sending_webhooks`` does it).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Final

from .._kit import FaultKnobs
from .._kit._server import EXIT_STATUSES, add_server_options, run
from ._emulator import Emulator
from ._faults import Faults

PROG: Final = "python -m a1art_async.testing.akool"
DEFAULT_KEY: Final = "akool-emulator-key-00001"
DEFAULT_CLIENT_ID: Final = "emulator-client1"
_DESCRIPTION: Final = f"Serve the akool image API emulator on loopback HTTP. {EXIT_STATUSES}"


def _api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api-key", default=DEFAULT_KEY, help=f"the API key ({DEFAULT_KEY})")
    parser.add_argument(
        "--client-id", default=DEFAULT_CLIENT_ID, help=f"its client id ({DEFAULT_CLIENT_ID})"
    )
    parser.add_argument(
        "--webhooks",
        action="store_true",
        help="send each image's webhooks over HTTP to its webhookUrl (sealed with the key)",
    )


def _make(
    args: argparse.Namespace, api_origin: str, files_origin: str, faults: FaultKnobs
) -> Emulator:
    assert isinstance(faults, Faults)
    return Emulator(
        args.api_key,
        client_id=args.client_id,
        time_scale=args.time_scale,
        seed=args.seed,
        api_origin=api_origin,
        files_origin=files_origin,
        faults=faults,
        serve_webhooks=args.webhooks,
    )


def _banner(emulator: Emulator) -> list[str]:
    return [f"api_key={emulator.api_key}", f"client_id={emulator.client_id}"]


def serve(argv: Sequence[str], *, prog: str = f"{PROG} serve") -> int:
    """
    Serve the akool emulator on loopback until SIGINT (130) or SIGTERM (0).

    Raises:
        SystemExit: From argparse, for bad arguments and ``--help``.
    """
    parser = argparse.ArgumentParser(prog=prog, description=_DESCRIPTION)
    add_server_options(parser, _api_options)
    args = parser.parse_args(argv)
    return run(parser, args, prog, faults_class=Faults, make=_make, banner=_banner)


def main(argv: Sequence[str] | None = None) -> int:
    """
    ``python -m a1art_async.testing.akool serve [options]``.
    """
    parser = argparse.ArgumentParser(prog=PROG, description="Run the akool API emulator.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the emulator on loopback HTTP", add_help=False)
    args, rest = parser.parse_known_args(argv)
    return serve(rest, prog=f"{PROG} {args.command}")
