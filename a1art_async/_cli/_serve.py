"""
``a1art emulator serve``: the loopback emulator, through the testing module's own entry
point (``python -m a1art_async.testing serve``, or with ``--api gateway``
``python -m a1art_async.testing.gateway serve``), with every other option passed on as
given.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

PROG = "a1art emulator serve"


def serve(arguments: Sequence[str]) -> int:
    """
    Serve until SIGINT (exit status 130) or SIGTERM (0); ``--api a1art`` (the default)
    or ``--api gateway`` picks the emulator, and the other ``arguments`` are those of its
    ``serve`` (``--port``, ``--time-scale``, ``--fault``...).  A port that cannot be
    bound exits with 1, bad arguments with 2, each with one line.
    """
    chooser = argparse.ArgumentParser(prog=PROG, add_help=False)
    chooser.add_argument("--api", choices=("a1art", "gateway"), default="a1art")
    try:
        chosen, rest = chooser.parse_known_args(arguments)
        if chosen.api == "gateway":
            from ..testing.gateway._server import serve as serve_emulator
        else:
            from ..testing._a1art._server import serve as serve_emulator
        return serve_emulator(rest, prog=PROG)
    except SystemExit as done:  # argparse's usage errors and --help
        return done.code if isinstance(done.code, int) else 2
