"""
``a1art emulator serve``: the loopback emulator, through the testing module's own entry
point (``python -m a1art_async.testing serve``), with every option passed on as given.
"""

from __future__ import annotations

from collections.abc import Sequence


def serve(arguments: Sequence[str]) -> int:
    """
    Serve until SIGINT or SIGTERM; ``arguments`` are those of
    ``python -m a1art_async.testing serve`` (``--port``, ``--time-scale``, ``--fault``...).
    """
    from ..testing._server import main

    try:
        return main(["serve", *arguments])
    except SystemExit as done:  # argparse's usage errors and --help
        return done.code if isinstance(done.code, int) else 2
