"""
The soak run of the fault matrix (``nox -s soak``): every cell of ``tests/_matrix.py``
with more jobs, on several seeds and both backends in virtual time, and every cell that
finishes in real seconds over loopback HTTP too.  It writes every run's figures, and a
summary per cell, to ``benchmarks/results/soak.json``, prints both as Markdown tables,
and exits with status 1 if any run broke a rule.

A run is one cell, one target (in-process or HTTP), one backend and one seed; its rules
are the matrix's (see ``tests/_matrix.py``), plus: no warning and no unraisable exception
(an unclosed client, socket or file) while it ran.

Usage::

    python -m benchmarks.soak                          # the full soak (about half an hour)
    python -m benchmarks.soak --quick                  # a few minutes
    python -m benchmarks.soak --cells network,redirect --no-http
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
from trio.testing import MockClock

import a1art_async as a1
from a1art_async.testing import Emulator, VirtualTimeEventLoop
from tests import _matrix
from tests.test_emulator_server import _serving

RESULTS = Path(__file__).parent / "results" / "soak.json"
KEY = "soak-key-0123456789abcdef"


@contextlib.contextmanager
def _leaks(found: list[str]) -> Iterator[None]:
    """
    Record warnings and unraisable exceptions (an unclosed resource warns in ``__del__``).
    """
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        found.append(f"unraisable: {unraisable.exc_type.__name__}: {unraisable.exc_value}")

    sys.unraisablehook = hook
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
            gc.collect()
        found.extend(f"warning: {w.category.__name__}: {w.message}" for w in caught)
    finally:
        sys.unraisablehook = previous


def _row(run: _matrix.Run, leaks: list[str]) -> dict[str, Any]:
    figures = _matrix.figures(run)
    row = figures.row()
    row["violations"] = [*figures.violations, *leaks]
    return row


def in_process(cell: _matrix.Cell, backend: str, seed: int, jobs: int) -> dict[str, Any]:
    """
    One run against the in-process emulator, on virtual time.
    """

    async def main(folder: Path) -> _matrix.Run:
        emulator = Emulator(api_key=KEY, balance=10**9, seed=seed)
        return await _matrix.run_cell(
            _matrix.InProcess(emulator), cell, jobs=jobs, folder=folder, seed=seed, backend=backend
        )

    options: dict[str, Any] = (
        {"clock": MockClock(autojump_threshold=0)}
        if backend == "trio"
        else {"loop_factory": VirtualTimeEventLoop}
    )
    leaks: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        with _leaks(leaks):
            run = anyio.run(main, Path(folder), backend=backend, backend_options=options)
        return _row(run, leaks)  # while the saved files are there to check


def over_http(cell: _matrix.Cell, backend: str, seed: int, jobs: int) -> dict[str, Any]:
    """
    One run against ``python -m a1art_async.testing serve`` on loopback, in real time
    (tasks at 1/1000 of their duration, the first poll at the documented 5 s; windows
    at a quarter of their times, so that they fall on the polls).
    """

    async def main(folder: Path) -> _matrix.Run:
        arguments = ["--time-scale", "0.001", "--balance", str(10**9), "--seed", str(seed)]
        async with _serving(*arguments) as (_, banner), httpx.AsyncClient() as admin:
            return await _matrix.run_cell(
                _matrix.Loopback(banner, admin),
                cell,
                jobs=jobs,
                folder=folder,
                seed=seed,
                backend=backend,
                poll_policy=a1.PollPolicy(hint_fraction=0.0),
                window_scale=0.25,
            )

    leaks: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        with _leaks(leaks):
            run = anyio.run(main, Path(folder), backend=backend)
        return _row(run, leaks)


def summarize(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """
    One line per cell and target: counts summed over seeds and backends, the worst
    generate calls per job, the earliest first poll, the violations.
    """
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["cell"], row["target"]), []).append(row)
    summary = []
    for (cell, target), runs in groups.items():
        polls = [r["earliest_poll"] for r in runs if r["earliest_poll"] is not None]
        summary.append(
            {
                "cell": cell,
                "target": target,
                "backend": "+".join(sorted({r["backend"] for r in runs})),
                "runs": len(runs),
                **{k: sum(r[k] for r in runs) for k in ("jobs", "done", "failed", "unknown")},
                **{
                    k: sum(r[k] for r in runs)
                    for k in ("credits_charged", "credits_estimated", "credits_estimated_low")
                },
                "generate_calls_per_job": max(r["generate_calls_per_job"] for r in runs),
                "requests_per_job": sum(r["requests_per_job"] for r in runs) / len(runs),
                "earliest_poll": min(polls) if polls else None,
                "wall_time": sum(r["wall_time"] for r in runs) / len(runs),
                "violations": [v for r in runs for v in r["violations"]],
            }
        )
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer jobs and seeds")
    parser.add_argument("--jobs", type=int, help="jobs per in-process run (90; quick 27)")
    parser.add_argument("--http-jobs", type=int, help="jobs per HTTP run (36; quick 18)")
    parser.add_argument("--seeds", help="comma-separated seeds (0,1,2; quick 0)")
    parser.add_argument("--backends", default="asyncio,trio", help="asyncio,trio")
    parser.add_argument("--cells", help="comma-separated cell names (all)")
    parser.add_argument("--no-http", action="store_true", help="skip the loopback runs")
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"output ({RESULTS})")
    args = parser.parse_args(argv)

    jobs = args.jobs or (27 if args.quick else 90)
    http_jobs = args.http_jobs or (18 if args.quick else 36)
    seeds = [int(s) for s in (args.seeds or ("0" if args.quick else "0,1,2")).split(",")]
    backends = args.backends.split(",")
    names = args.cells.split(",") if args.cells else list(_matrix.CELLS)
    unknown = set(names) - set(_matrix.CELLS)
    if unknown:
        parser.error(f"unknown cells {sorted(unknown)}; known: {', '.join(_matrix.CELLS)}")
    cells = [_matrix.CELLS[name] for name in names]

    started = time.perf_counter()
    rows: list[dict[str, Any]] = []

    def report(row: Mapping[str, Any]) -> None:
        mark = "ok" if not row["violations"] else f"{len(row['violations'])} VIOLATIONS"
        print(
            f"{row['cell']:>20} {row['target']:>10} {row['backend']:>7} seed {row['seed']}: "
            f"{row['done']}/{row['failed']}/{row['unknown']} of {row['jobs']} "
            f"in {row['wall_time']:.1f} s, {mark}",
            flush=True,
        )

    for cell in cells:
        for backend in backends:
            for seed in seeds:
                rows.append(in_process(cell, backend, seed, jobs))
                report(rows[-1])
    if not args.no_http:
        for cell in [*(c for c in cells if c.http), _matrix.HTTP_CELL]:
            for backend in backends:
                rows.append(over_http(cell, backend, seeds[0], http_jobs))
                report(rows[-1])

    summary = summarize(rows)
    document = {
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "settings": {
            "jobs": jobs,
            "http_jobs": http_jobs,
            "seeds": seeds,
            "backends": backends,
            "cells": {cell.name: attrs.asdict(cell) for cell in cells},
            "retry": attrs.asdict(_matrix.RETRY),
            "timeout": _matrix.TIMEOUT,
        },
        "wall_time": time.perf_counter() - started,
        "summary": summary,
        "runs": rows,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2, default=str) + "\n")
    print()
    print(_matrix.table(summary))
    broken = [v for row in rows for v in row["violations"]]
    print(f"\n{len(rows)} runs, {len(broken)} violations, {document['wall_time']:.0f} s")
    for violation in broken[:20]:
        print("  ", violation)
    print(f"figures: {args.json}")
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
