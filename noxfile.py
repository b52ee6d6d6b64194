"""
The whole development loop: ``nox`` runs tests, lint and typecheck; ``nox -s bench`` and
``nox -s demo`` are on demand, and ``nox -s soak`` runs the fault matrix at length.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """
    Run the test suite on both anyio backends (asyncio and trio) with coverage.
    """
    session.install("-e", ".[dev]")
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    session.run("coverage", "report", "--skip-covered", "--sort=cover")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """
    ruff check and ruff format --check over the whole tree.
    """
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """
    mypy --strict on the package.
    """
    session.install("-e", ".[dev]")
    session.run("mypy", "a1art_async")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """
    Run the benchmarks (polling, end to end, distributed batches on a throwaway
    PostgreSQL cluster): prints tables and writes JSON under benchmarks/results/
    (``-- --quick`` for a few minutes each).
    """
    session.install("-e", ".[dev]")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """
    The README's main job: a batch against the built-in emulator, no API key needed.
    """
    session.install("-e", ".[cli]")
    session.run("a1art", "demo", *session.posargs)


@nox.session(python=PYTHON)
def soak(session: nox.Session) -> None:
    """
    The fault matrix at length: every cell, more jobs and seeds, both backends, in virtual
    time and over loopback HTTP; figures to benchmarks/results/soak.json (``-- --quick``
    for a few minutes).
    """
    session.install("-e", ".[dev]")
    session.run("python", "-m", "benchmarks.soak", *session.posargs)
