"""
``python -m a1art_async.testing serve``: the emulator on loopback HTTP, under uvicorn.

Two sockets, two origins: the API on ``--port`` and the CDN (result files, style covers)
on ``--cdn-port``; the ASGI app tells them apart by the socket a connection arrived on.
Both ports are bound before anything is printed, so a parent process may connect as
soon as it has read the three ``name=value`` lines.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import sys
from collections.abc import Sequence
from typing import Final

from ._asgi import ConnectionDropped
from ._faults import Faults
from ._http import normalize_origin
from ._state import Emulator

INSTALL_HINT: Final = "The emulator server needs uvicorn: pip install 'a1art-async[server]'"
DEFAULT_KEY: Final = "emulator-key"


class _HideDeliberateDrops(logging.Filter):
    """
    Keep the tracebacks of connections the emulator drops on purpose out of the log.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionDropped))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m a1art_async.testing",
        description="Run the a1.art Open API emulator.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the emulator on loopback HTTP")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="API port; 0 picks a free one")
    serve.add_argument("--cdn-port", type=int, default=0, help="CDN port; 0 picks a free one")
    serve.add_argument("--api-key", default=DEFAULT_KEY, help=f"the API key ({DEFAULT_KEY})")
    serve.add_argument("--balance", type=int, default=1000, help="credits of that key (1000)")
    serve.add_argument("--vip", action="store_true", help="let that key use the VIP app")
    serve.add_argument(
        "--time-scale", type=float, default=1.0, help="multiply task durations (1.0)"
    )
    serve.add_argument("--seed", type=int, default=0, help="seed for ids, durations, faults")
    serve.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KNOB=VALUE",
        help="set a fault knob (JSON value, else a string), e.g. task_failure_rate=0.1",
    )
    serve.add_argument("--log-level", default="warning", help="uvicorn log level (warning)")
    return parser


def _bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    # Listening now means connections made right after the banner wait in the backlog.
    sock.listen(128)
    return sock


def _knob(text: str) -> tuple[str, object]:
    name, sep, raw = text.partition("=")
    if not sep:
        raise ValueError(f"expected KNOB=VALUE, got {text!r}")
    try:
        value: object = json.loads(raw)
    except ValueError:
        value = raw
    return name.strip(), value


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run the command line.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` by default.

    Returns:
        The exit status: 0 after a clean shutdown (SIGINT, SIGTERM), 2 when uvicorn is
        missing or the arguments are wrong.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    faults = Faults()
    try:
        faults.update(dict(_knob(text) for text in args.fault))
    except ValueError as error:
        parser.error(f"--fault: {error}")
    try:
        import uvicorn  # optional extra: imported only when serving
    except ImportError:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    api_sock, cdn_sock = _bind(args.host, args.port), _bind(args.host, args.cdn_port)
    api_origin = normalize_origin("http", args.host, api_sock.getsockname()[1])
    cdn_origin = normalize_origin("http", args.host, cdn_sock.getsockname()[1])
    emulator = Emulator(
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
    config = uvicorn.Config(
        emulator.asgi_app(),
        lifespan="off",
        log_level=args.log_level,
        access_log=False,
        loop="asyncio",
        ws="none",
        timeout_graceful_shutdown=1,
    )
    logging.getLogger("uvicorn.error").addFilter(_HideDeliberateDrops())
    print(f"base_url={api_origin}", flush=True)
    print(f"cdn_url={cdn_origin}", flush=True)
    print(f"api_key={args.api_key}", flush=True)
    uvicorn.Server(config).run(sockets=[api_sock, cdn_sock])
    return 0
