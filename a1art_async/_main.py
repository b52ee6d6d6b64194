"""
The ``a1art`` command (and ``python -m a1art_async``).

The command line lives in the private package ``_cli`` and needs the ``cli`` extra
(rich, for tables and live progress).  Without it, this entry point says how to install
it and exits with the usage status, before importing anything the extra provides.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from ._cli._exit import ExitCode


def checkout() -> Path | None:
    """
    The source checkout this package runs from (an editable install), if it is one: the
    directory above the package, holding this project's ``pyproject.toml``.
    """
    root = Path(__file__).resolve().parent.parent
    try:
        project = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    return root if 'name = "a1art-async"' in project else None


def install_hint(what: str, extra: str, brings: str) -> str:
    """
    Say that *what* needs *extra* (which *brings* a dependency), and how to install it:
    the package is not on a package index, so from its checkout, in the project
    directory (named when this runs from one).
    """
    where = checkout()
    place = (
        f"in the project directory ({where})"
        if where is not None
        else "in the a1art-async project directory (the checkout with pyproject.toml)"
    )
    return (
        f"{what} needs the '{extra}' extra ({brings}), which is not installed.\n"
        f"a1art-async installs from its source checkout, not a package index: {place}, run\n"
        f"    pip install -e '.[{extra}]'\n"
    )


INSTALL_HINT = install_hint("The a1art command line", "cli", "rich")


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
