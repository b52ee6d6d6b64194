"""
The ``a1art`` command (and ``python -m a1art_async``).

The command line lives in the private package ``_cli`` and needs the ``cli`` extra
(rich, for tables and live progress).  Without it, this entry point says how to install
it and exits with the usage status, before importing anything the extra provides.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import NoReturn

from ._cli._exit import ExitCode

INSTALL_HINT = (
    "The a1art command line needs the 'cli' extra (rich), which is not installed.\n"
    "Install it with:  pip install 'a1art-async[cli]'\n"
)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """
    Run the ``a1art`` command line and exit with its status (see ``a1art --help``).

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` by default.
    """
    try:
        import rich  # noqa: F401  # the cli extra
    except ImportError:
        sys.stderr.write(INSTALL_HINT)
        sys.exit(ExitCode.USAGE)
    from ._cli import run

    sys.exit(run(sys.argv[1:] if argv is None else argv))
