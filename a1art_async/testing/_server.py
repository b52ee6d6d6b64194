"""
``python -m a1art_async.testing serve``: the emulator on loopback HTTP, under uvicorn.

Two sockets, two origins: the API on ``--port`` and the CDN (result files, style covers)
on ``--cdn-port``; the ASGI app tells them apart by the socket a connection arrived on.
Both ports are bound before anything is printed, so a parent process may connect as
soon as it has read the three ``name=value`` lines.

Exit statuses: 0 after SIGTERM, 130 after Ctrl-C (SIGINT), 1 when a port cannot be
bound (in use, say), 2 for bad arguments or a missing ``server`` extra.  Each failure,
and Ctrl-C, is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import logging
import signal
import socket
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Final

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


PROG: Final = "python -m a1art_async.testing"

STOPPED: Final = 0
"""Exit status after SIGTERM."""
CANNOT_LISTEN: Final = 1
"""Exit status when a port cannot be bound (in use, not allowed, no such address)."""
USAGE: Final = 2
"""Exit status for bad arguments and a missing ``server`` extra."""
INTERRUPTED: Final = 130
"""Exit status after Ctrl-C (SIGINT), as shells report a process SIGINT ended."""


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535, got {port}")
    return port


def _add_serve_options(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    serve.add_argument("--port", type=_port, default=0, help="API port; 0 picks a free one")
    serve.add_argument("--cdn-port", type=_port, default=0, help="CDN port; 0 picks a free one")
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


_DESCRIPTION: Final = (
    "Serve the a1.art Open API emulator on loopback HTTP until Ctrl-C (exit status 130) "
    "or SIGTERM (0); 1 when a port cannot be bound, 2 for bad arguments."
)


def _serve_parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=_DESCRIPTION)
    _add_serve_options(parser)
    return parser


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Run the a1.art Open API emulator.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="serve the emulator on loopback HTTP", description=_DESCRIPTION
    )
    _add_serve_options(serve)
    return parser


def _bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        # Listening now means connections made right after the banner wait in the backlog.
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
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
    Serve the emulator on loopback until SIGINT or SIGTERM.

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
    parser = _serve_parser(prog)
    return _run(parser, parser.parse_args(argv), prog)


class _Stop:
    """
    The SIGTERM handler: asks the server to stop, or remembers to before it starts.
    """

    def __init__(self) -> None:
        self.requested = False
        self.server: Any = None

    def __call__(self, _signal: int, _frame: object) -> None:
        self.requested = True
        if self.server is not None:
            self.server.should_exit = True


@contextlib.contextmanager
def _signals(stop: _Stop) -> Iterator[None]:
    """
    SIGTERM asks *stop*; SIGINT raises ``KeyboardInterrupt`` even where the parent
    process left it ignored (a background job), as uvicorn's own handler did.  Only the
    main thread can set handlers; elsewhere the process keeps what it has.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
        signal.SIGTERM: signal.signal(signal.SIGTERM, stop),
    }
    try:
        yield
    finally:
        for number, handler in previous.items():
            if handler is not None:
                signal.signal(number, handler)


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace, prog: str) -> int:
    faults = Faults()
    try:
        faults.update(dict(_knob(text) for text in args.fault))
    except ValueError as error:
        parser.error(f"--fault: {error}")
    stop = _Stop()
    try:
        with _signals(stop):
            return _serve(args, faults, prog, stop)
    except KeyboardInterrupt:
        # Ctrl-C, whenever it comes: before, while or after the server runs.
        print(f"{prog}: interrupted; the emulator stopped", file=sys.stderr, flush=True)
        return INTERRUPTED


def _listen(host: str, port: int, option: str, prog: str) -> socket.socket | None:
    """
    Bind a listening socket, or print why not in one line and return None.
    """
    try:
        return _bind(host, port)
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        hint = "; --port 0 picks a free one" if error.errno == errno.EADDRINUSE else ""
        hint = hint.replace("--port", option)
        print(
            f"{prog}: cannot listen on {host} port {port} ({option}): {reason}{hint}",
            file=sys.stderr,
        )
        return None


def _serve(args: argparse.Namespace, faults: Faults, prog: str, stop: _Stop) -> int:
    try:
        import uvicorn  # optional extra: imported only when serving
    except ImportError:
        print(INSTALL_HINT, file=sys.stderr)
        return USAGE
    sockets: list[socket.socket] = []
    try:
        for port, option in ((args.port, "--port"), (args.cdn_port, "--cdn-port")):
            sock = _listen(args.host, port, option, prog)
            if sock is None:
                return CANNOT_LISTEN
            sockets.append(sock)
        api_sock, cdn_sock = sockets
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
        stop.server = uvicorn.Server(config)
        if not stop.requested:
            _run_in_thread(stop.server, sockets)
    finally:
        for sock in sockets:
            sock.close()
    return STOPPED


def _run_in_thread(server: Any, sockets: list[socket.socket]) -> None:
    """
    Run *server* in a worker thread until it stops (after SIGTERM), or until Ctrl-C,
    which is re-raised here once the server has shut down.

    In a worker thread uvicorn installs no signal handlers, so the signals stay with the
    main thread and :func:`_signals` decides what they do, whatever uvicorn's version
    does with signals it captures itself.
    """
    thread = threading.Thread(target=server.run, kwargs={"sockets": sockets}, daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        server.should_exit = True
        try:
            thread.join(5)
        except KeyboardInterrupt:  # a second Ctrl-C: stop without waiting for anyone
            server.force_exit = True
            thread.join(5)
        raise
