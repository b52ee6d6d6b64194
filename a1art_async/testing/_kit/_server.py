"""
An emulator on loopback HTTP, under uvicorn: the ``serve`` command every emulator shares,
and :func:`serving` for tests that want one in a background thread.

Two sockets, two origins: the API on ``--port`` and the file host (CDN) on
``--cdn-port``; the ASGI app tells them apart by the socket a connection arrived on.
Both ports are bound before anything is printed, so a parent process may connect as
soon as it has read the banner's ``name=value`` lines (``base_url=``, ``cdn_url=``, then
the emulator's own).

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
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, TypeVar

from ._asgi import ConnectionDropped
from ._emulator import EmulatorBase
from ._faults import FaultKnobs
from ._http import normalize_origin

E = TypeVar("E", bound=EmulatorBase)

INSTALL_HINT: Final = (
    "The emulator server needs uvicorn: run pip install -e '.[server]' in the project directory"
)

STOPPED: Final = 0
"""Exit status after SIGTERM."""
CANNOT_LISTEN: Final = 1
"""Exit status when a port cannot be bound (in use, not allowed, no such address)."""
USAGE: Final = 2
"""Exit status for bad arguments and a missing ``server`` extra."""
INTERRUPTED: Final = 130
"""Exit status after Ctrl-C (SIGINT), as shells report a process SIGINT ended."""

EXIT_STATUSES: Final = (
    "Runs until Ctrl-C (exit status 130) or SIGTERM (0); 1 when a port cannot be bound, "
    "2 for bad arguments."
)

Factory = Callable[[argparse.Namespace, str, str, FaultKnobs], EmulatorBase]
"""Builds the emulator from the parsed options, its API and file origins and its knobs."""


class _HideDeliberateDrops(logging.Filter):
    """
    Keep the tracebacks of connections the emulator drops on purpose out of the log.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionDropped))


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535, got {port}")
    return port


def add_server_options(
    parser: argparse.ArgumentParser,
    api_options: Callable[[argparse.ArgumentParser], None] | None = None,
) -> None:
    """
    Add the options every ``serve`` command has: ``--host``, ``--port``, ``--cdn-port``,
    then the API's own (*api_options*), then ``--time-scale``, ``--seed``, ``--fault``
    and ``--log-level``.
    """
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=_port, default=0, help="API port; 0 picks a free one")
    parser.add_argument(
        "--cdn-port", type=_port, default=0, help="CDN (file host) port; 0 picks a free one"
    )
    if api_options is not None:
        api_options(parser)
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="multiply task durations (1.0)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for ids, durations, faults")
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KNOB=VALUE",
        help="set a fault knob (JSON value, else a string), e.g. task_failure_rate=0.1",
    )
    parser.add_argument("--log-level", default="warning", help="uvicorn log level (warning)")


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


def _uvicorn_server(emulator: EmulatorBase, log_level: str) -> Any:
    import uvicorn  # optional extra: imported only when serving

    config = uvicorn.Config(
        emulator.asgi_app(),
        lifespan="on",
        log_level=log_level,
        access_log=False,
        loop="asyncio",
        ws="none",
        timeout_graceful_shutdown=1,
    )
    logging.getLogger("uvicorn.error").addFilter(_HideDeliberateDrops())
    return uvicorn.Server(config)


def _origins(host: str, sockets: list[socket.socket]) -> tuple[str, str]:
    api, files = (normalize_origin("http", host, sock.getsockname()[1]) for sock in sockets)
    return api, files


def run(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    prog: str,
    *,
    faults_class: type[FaultKnobs],
    make: Factory,
    banner: Callable[[Any], Iterable[str]] = lambda emulator: (),
) -> int:
    """
    Serve an emulator on loopback until SIGINT or SIGTERM.

    Args:
        parser: The parser *args* came from (its usage goes with ``--fault`` errors).
        args: Options from :func:`add_server_options` and the API's own.
        prog: The command's name in its error lines.
        faults_class: The knobs ``--fault`` sets.
        make: Builds the emulator once the ports are bound.
        banner: The emulator's own banner lines, after ``base_url=`` and ``cdn_url=``.

    Returns:
        0 after SIGTERM, 130 after Ctrl-C (SIGINT), 1 when a port cannot be bound, 2 when
        uvicorn is missing.

    Raises:
        SystemExit: From argparse (status 2), for an invalid ``--fault``.
    """
    faults = faults_class()
    try:
        faults.update(dict(_knob(text) for text in args.fault))
    except ValueError as error:
        parser.error(f"--fault: {error}")
    stop = _Stop()
    try:
        with _signals(stop):
            return _serve(
                args, prog, stop, lambda api, files: make(args, api, files, faults), banner
            )
    except KeyboardInterrupt:
        # Ctrl-C, whenever it comes: before, while or after the server runs.
        print(f"{prog}: interrupted; the emulator stopped", file=sys.stderr, flush=True)
        return INTERRUPTED


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


def _listen(host: str, port: int, option: str, prog: str) -> socket.socket | None:
    """
    Bind a listening socket, or print why not in one line and return None.
    """
    try:
        return _bind(host, port)
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        hint = f"; {option} 0 picks a free one" if error.errno == errno.EADDRINUSE else ""
        print(
            f"{prog}: cannot listen on {host} port {port} ({option}): {reason}{hint}",
            file=sys.stderr,
        )
        return None


def _serve(
    args: argparse.Namespace,
    prog: str,
    stop: _Stop,
    make: Callable[[str, str], EmulatorBase],
    banner: Callable[[Any], Iterable[str]],
) -> int:
    try:
        import uvicorn  # noqa: F401  # optional extra
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
        api_origin, file_origin = _origins(args.host, sockets)
        emulator = make(api_origin, file_origin)
        stop.server = _uvicorn_server(emulator, args.log_level)
        for line in (f"base_url={api_origin}", f"cdn_url={file_origin}", *banner(emulator)):
            print(line, flush=True)
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


@contextlib.contextmanager
def serving(
    make: Callable[[str, str], E], *, host: str = "127.0.0.1", log_level: str = "warning"
) -> Iterator[E]:
    """
    Serve an emulator on two free loopback ports in a background thread, for a test.

    ::

        with serving(lambda api, files: Toy(api_origin=api, file_origins=[files])) as toy:
            httpx.get(f"{toy.api_origin}/jobs/1")

    Args:
        make: Builds the emulator from its API origin and its file host origin.
        host: The address to bind.
        log_level: uvicorn's log level.

    Yields:
        The emulator, its sockets already listening (real time only: sockets and
        virtual clocks do not mix).
    """
    sockets = [_bind(host, 0), _bind(host, 0)]
    try:
        emulator = make(*_origins(host, sockets))
        server = _uvicorn_server(emulator, log_level)
        thread = threading.Thread(target=server.run, kwargs={"sockets": sockets}, daemon=True)
        thread.start()
        try:
            yield emulator
        finally:
            server.should_exit = True
            thread.join(10)
    finally:
        for sock in sockets:
            sock.close()
