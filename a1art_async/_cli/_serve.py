"""
``a1art emulator serve``: the loopback emulator, through the testing module's own entry
point (``python -m a1art_async.testing serve``), with every option passed on as given.
"""

from __future__ import annotations

from collections.abc import Sequence


def serve(arguments: Sequence[str]) -> int:
    """
    Serve until SIGINT (exit status 130) or SIGTERM (0); ``arguments`` are those of
    ``python -m a1art_async.testing serve`` (``--port``, ``--time-scale``, ``--fault``...).
    A port that cannot be bound exits with 1, bad arguments with 2, each with one line.
    """
    from ..testing._a1art._server import serve as serve_emulator

    try:
        return serve_emulator(arguments, prog="a1art emulator serve")
    except SystemExit as done:  # argparse's usage errors and --help
        return done.code if isinstance(done.code, int) else 2
