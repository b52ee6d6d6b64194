"""
Distributed batches on a throwaway PostgreSQL cluster (``tests/_postgres.py``), three
scenarios, each printed as a table and written to JSON:

D1, bookkeeping per job: one shard of 1,000 jobs through the real shard runner
(``run_shard``: the page read, the engine batch, the claim, ``submitted``, ``done``)
with a provider whose jobs cost nothing and end at once (``benchmarks/_null.py``), so
that only the engine's own bookkeeping is measured: worker CPU per job and database
round trips per job.  Side by side in the same run, rounds interleaved: the journal as
it is (a claim per job, the other writes grouped: ``_group.py``), the first version's
journal (every transition its own statement, a row insert before each claim), and the
engine batch over an in-memory journal (no database: the floor).  Medians of the
rounds; the load average is printed with them.  ``--profile`` adds a cProfile of one
shard.

D2, scale: enqueue throughput (jobs/s through ``enqueue``, streamed), then for each
batch size, a worker process (the real procrastinate loop, the null provider) working
sample shards of a batch of that many journaled jobs: claim throughput, its CPU per job,
and its peak RSS (``VmHWM``: the whole process, not just the Python heap); and the
peak RSS of ``a1art batch --workers 0`` streaming a JSONL file of that many rows into
the journal (its rows checked against the loopback emulator's apps).

D3, the shared request budget: 4 worker processes on one batch against the loopback
emulator with a rate limit of R requests/s per key (the ``rate_limit`` knob), tasks at
``--time-scale``; once sharing the key's budget through the database (as ``a1art
worker`` does), once as 4 independent clients, each with its own local budget (the
baseline).  From the emulator's journal: goodput (accepted API requests/s between 2 s
after the first request and the last generate, while every job is still to submit)
against R, and the share of requests refused.

Targets: at most 1 ms of worker CPU and a handful of round trips per job; memory flat
in batch size; goodput >= 0.95 R with <= 2 % refused.

    python -m benchmarks.distributed [--quick] [--only D1 D2 D3] [--json PATH]

``--quick`` (a few minutes): 10,000 and 100,000 jobs in D2, 3 rounds in D1, 300 jobs in
D3; the full run uses 100,000 and 1,000,000 jobs, 7 rounds and 600 jobs.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from a1art_async import AsyncClient, JobRecord, JobState
from a1art_async._engine._batch import Batch as EngineBatch
from a1art_async.distributed import _journal as journal_module
from a1art_async.distributed import _shards
from a1art_async.distributed._database import open_pool
from a1art_async.distributed._enqueue import Incoming, enqueue
from a1art_async.distributed._journal import _CLAIM, _INSERT, _MOVE, Claim, PostgresJournal
from a1art_async.distributed._queue import make_app
from a1art_async.distributed._shards import WorkerContext, run_shard
from a1art_async.testing import apps
from benchmarks import _null
from tests._postgres import cluster, database

PYTHON = sys.executable
SHARD = 1000
#: Shards a D2 worker runs, spread over the batch (first, middle, last).
SAMPLE_SHARDS = 3


# D1: bookkeeping per job ----------------------------------------------------------------


class OneAtATime(PostgresJournal):
    """
    The first version's journal: a row insert before each claim, and every other
    transition its own statement.
    """

    async def transition(self, record: JobRecord, expect: Any) -> bool:
        states = [state.value for state in expect if state is not None]
        params = self._params(record, states)
        if None in expect:
            await self._execute(_INSERT, params)
            params["expect"] = [*states, JobState.PENDING.value]
        if record.state is JobState.SUBMITTING:
            claim = Claim(uuid.uuid4(), record.cost)
            params["claim"] = claim.id
            rows = await self._execute(_CLAIM, params)
            if rows[0][0]:
                self._claims[record.key] = claim
                return True
            return False
        held = self._claims.get(record.key)
        params["claim"] = held.id if held is not None else None
        params["refund"] = 0
        rows = await self._execute(_MOVE, params)
        moved = bool(rows[0][0])
        if moved and record.state is not JobState.UNKNOWN:
            self._claims.pop(record.key, None)
        return moved


async def _shard_round(dsn: str, variant: str, batch: str, lo: int) -> dict[str, float]:
    """
    One shard of null jobs through *variant*; CPU and wall per job, round trips per job.
    """
    client = _null.NullClient()
    if variant == "memory":
        engine = EngineBatch(
            http=client.http, retry=client.retry, listeners=client.listeners, journal=None
        )
        cpu0, wall0 = time.process_time(), time.perf_counter()
        async with engine:
            for n in range(SHARD):
                engine.add_job(_null.NullJob(f"{batch}-{n}"))
            async for _ in engine:
                pass
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        await client.http.aclose()
        return {"cpu_ms": 1000 * cpu / SHARD, "wall_ms": 1000 * wall / SHARD, "round_trips": 0}
    pool = await open_pool(dsn, size=6)
    journal_class = OneAtATime if variant == "one_at_a_time" else PostgresJournal
    # The shard runner opens its journal by this name: swap the class for the round.
    _shards.__dict__["PostgresJournal"] = journal_class
    context = WorkerContext(pool=pool, clients={_null.NAME: client}, name="bench", dsn=dsn)
    try:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await run_shard(context, batch, lo, lo + SHARD)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        _shards.__dict__["PostgresJournal"] = journal_module.PostgresJournal
        await pool.close()
        await client.http.aclose()
    assert SHARD == context.counters.done, context.counters
    return {
        "cpu_ms": 1000 * cpu / SHARD,
        "wall_ms": 1000 * wall / SHARD,
        "round_trips": context.counters.round_trips / SHARD,
    }


async def _enqueue_null(dsn: str, batch: str, jobs: int, shard: int = SHARD) -> tuple[int, float]:
    pool = await open_pool(dsn, size=2)
    app = make_app()
    try:
        async with app.open_async(pool=pool):
            rows = (Incoming(f"j{n}", _null.NAME, {}) for n in range(jobs))
            started = time.perf_counter()
            await enqueue(pool, app, batch, rows, shard_size=shard)
            took = time.perf_counter() - started
            async with pool.connection() as connection:
                cursor = await connection.execute(
                    "SELECT min(seq) FROM a1art_jobs WHERE batch = %s", (batch,)
                )
                row = await cursor.fetchone()
    finally:
        await pool.close()
    assert row is not None
    return int(row[0]), took


def bookkeeping(server: str, rounds: int, profile: bool) -> dict[str, Any]:
    _null.register()
    variants = ["journal", "one_at_a_time", "memory"]
    samples: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    load = os.getloadavg()
    with database(server, "d1") as dsn:
        for n in range(rounds + 1):  # the first round warms up and is not counted
            for variant in variants:
                batch = f"d1-{variant}-{n}"
                lo = 0
                if variant != "memory":
                    lo, _ = asyncio.run(_enqueue_null(dsn, batch, SHARD))
                result = asyncio.run(_shard_round(dsn, variant, batch, lo))
                if n:
                    samples[variant].append(result)
        profiled = ""
        if profile:
            lo, _ = asyncio.run(_enqueue_null(dsn, "d1-profile", SHARD))
            profiler = cProfile.Profile()
            profiler.enable()
            asyncio.run(_shard_round(dsn, "journal", "d1-profile", lo))
            profiler.disable()
            text = io.StringIO()
            pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(15)
            profiled = text.getvalue()
    rows = []
    for variant in variants:
        got = samples[variant]
        rows.append(
            {
                "variant": variant,
                "cpu_ms_per_job": round(statistics.median(s["cpu_ms"] for s in got), 3),
                "cpu_ms_runs": [round(s["cpu_ms"], 3) for s in got],
                "wall_ms_per_job": round(statistics.median(s["wall_ms"] for s in got), 3),
                "round_trips_per_job": round(statistics.median(s["round_trips"] for s in got), 3),
            }
        )
    print(f"\nD1 bookkeeping per job (shard of {SHARD}, {rounds} rounds; load {load[0]:.2f})")
    _table(rows, ["variant", "cpu_ms_per_job", "wall_ms_per_job", "round_trips_per_job"])
    for row in rows:
        print(f"  {row['variant']}: cpu ms/job per round {row['cpu_ms_runs']}")
    if profiled:
        print(profiled)
    return {"load_average": load, "rows": rows, "profile": profiled}


# D2: scale -------------------------------------------------------------------------------


def peak_rss_mib() -> float:
    """
    This process's peak resident memory: ``VmHWM``, which counts only what the process
    held since it started its program (``ru_maxrss`` of a child also counts the copy of
    its parent it was forked from, before exec).
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _worker_run(dsn: str, batch: str) -> dict[str, Any]:
    """
    A worker process on *batch* until no shard is left: its peak RSS, CPU and jobs.
    """
    command = [PYTHON, "-m", "benchmarks.distributed", "_worker", "null", dsn, batch]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def _keep_sample_shards(dsn: str, batch: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as connection:
        ids = [
            row[0]
            for row in connection.execute(
                "SELECT id FROM procrastinate_jobs WHERE queue_name = %s ORDER BY id",
                (_shards.queue_of(batch),),
            ).fetchall()
        ]
        keep = {ids[0], ids[len(ids) // 2], ids[-1]}
        connection.execute(
            "DELETE FROM procrastinate_jobs WHERE queue_name = %s AND NOT (id = ANY(%s))",
            (_shards.queue_of(batch), list(keep)),
        )


def _cli_enqueue(dsn: str, jobs: int, banner: dict[str, str], folder: Path) -> dict[str, Any]:
    """
    ``a1art batch FILE --workers 0`` on a JSONL file of *jobs* rows: its peak RSS.
    """
    path = folder / f"jobs{jobs}.jsonl"
    with path.open("w") as file:
        for n in range(jobs):
            row = {"key": f"r{n}", "app": apps.TEXT, "prompt": f"hill {n}"}
            file.write(json.dumps({**row, "style": "Summer Meadow", "aspect": "1:1"}) + "\n")
    report = folder / "cli.json"
    command = [PYTHON, "-m", "benchmarks.distributed", "_cli", str(report)]
    command += ["--api-key", banner["api_key"], "--base-url", banner["base_url"], "--json"]
    command += ["batch", str(path), "--journal", dsn, "--batch", f"cli{jobs}", "--workers", "0"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=False)
    took = time.perf_counter() - started
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    path.unlink()
    document = json.loads(done.stdout)
    return {
        "cli_enqueued": document["added"],
        "cli_jobs_per_s": round(jobs / took),
        "cli_rss_mib": json.loads(report.read_text())["rss_mib"],
    }


def scale(server: str, sizes: list[int]) -> list[dict[str, Any]]:
    _null.register()
    results = []
    with _emulator([]) as banner, tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            with database(server, f"d2_{size}") as dsn:
                _, took = asyncio.run(_enqueue_null(dsn, "big", size))
                _keep_sample_shards(dsn, "big")
                worker = _worker_run(dsn, "big")
                cli = _cli_enqueue(dsn, size, banner, Path(folder))
            results.append(
                {
                    "jobs": size,
                    "enqueue_jobs_per_s": round(size / took),
                    "claim_jobs_per_s": worker["jobs_per_s"],
                    "worker_cpu_ms_per_job": worker["cpu_ms_per_job"],
                    "worker_round_trips_per_job": worker["round_trips_per_job"],
                    "worker_rss_mib": worker["rss_mib"],
                    **cli,
                }
            )
    print(f"\nD2 scale (a worker runs {SAMPLE_SHARDS} shards of {SHARD} spread over the batch)")
    _table(results, list(results[0]))
    return results


def _worker_main(argv: list[str]) -> int:
    """
    ``_worker null DSN BATCH``: work on BATCH until done with the null provider; print
    what it did as JSON.  ``_worker shared|local DSN BATCH KEY BASE_URL SCALE``: a1.art.
    """
    mode, dsn, batch = argv[:3]
    from a1art_async.distributed._journal import worker_name
    from a1art_async.distributed._worker import WorkerOptions, work

    if mode == "null":
        _null.register()

        async def run_null() -> dict[str, Any]:
            pool = await open_pool(dsn, size=7)
            client = _null.NullClient()
            options = WorkerOptions(batch=batch, until_done=True, shards=1, poll_interval=0.2)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            try:
                counters = await work(pool, {_null.NAME: client}, dsn, worker_name(), options)
            finally:
                await pool.close()
                await client.http.aclose()
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            jobs = max(1, counters.done)
            return {
                "rss_mib": peak_rss_mib(),
                "jobs": counters.done,
                "jobs_per_s": round(counters.done / wall),
                "cpu_ms_per_job": round(1000 * cpu / jobs, 3),
                "round_trips_per_job": round(counters.round_trips / jobs, 3),
            }

        print(json.dumps(asyncio.run(run_null())))
        return 0
    from a1art_async._cli._context import scaled_policy
    from a1art_async.distributed import run_worker

    key, base_url, time_scale = argv[3], argv[4], float(argv[5])
    policy = scaled_policy(time_scale)

    async def run_a1art() -> None:
        if mode == "shared":
            await run_worker(
                dsn,
                batch=batch,
                until_done=True,
                api_key=key,
                base_url=base_url,
                poll_policy=policy,
            )
            return
        async with AsyncClient(api_key=key, base_url=base_url, poll_policy=policy) as client:
            await run_worker(dsn, client, batch=batch, until_done=True)

    asyncio.run(run_a1art())
    return 0


# D3: the shared request budget -----------------------------------------------------------


class _emulator:
    """
    The a1.art emulator served on loopback in a subprocess; its banner as a dict.
    """

    def __init__(self, arguments: list[str]) -> None:
        command = [PYTHON, "-m", "a1art_async.testing", "serve", "--balance", "100000000"]
        self._command = [*command, *arguments]
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> dict[str, str]:
        self._process = subprocess.Popen(
            self._command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self._process.stdout is not None
        return dict(self._process.stdout.readline().strip().split("=", 1) for _ in range(3))

    def __exit__(self, *exc: object) -> None:
        assert self._process is not None
        self._process.terminate()
        self._process.wait(timeout=30)


def _budget_run(
    server: str, mode: str, rate: float, jobs: int, time_scale: float
) -> dict[str, Any]:
    with (
        _emulator(["--time-scale", str(time_scale), "--fault", f"rate_limit={rate}"]) as banner,
        database(server, f"d3_{mode}") as dsn,
    ):
        params = {"app": apps.TEXT, "style": "Summer Meadow", "aspect": "1:1"}

        async def fill() -> None:
            pool = await open_pool(dsn, size=2)
            app = make_app()
            try:
                async with app.open_async(pool=pool):
                    rows = [
                        Incoming(f"j{n}", "a1art", {**params, "prompt": f"p{n}"})
                        for n in range(jobs)
                    ]
                    await enqueue(pool, app, "budget", rows, shard_size=max(1, jobs // 8))
            finally:
                await pool.close()

        asyncio.run(fill())
        command = [PYTHON, "-m", "benchmarks.distributed", "_worker", mode, dsn, "budget"]
        command += [banner["api_key"], banner["base_url"], str(time_scale)]
        started = time.perf_counter()
        workers = [subprocess.Popen(command) for _ in range(4)]
        for process in workers:
            assert process.wait() == 0
        wall = time.perf_counter() - started
        journal = httpx.get(banner["base_url"] + "/_emulator/journal", timeout=60).json()
    api = [
        e for e in journal if e["endpoint"] in ("apps", "upload", "generate", "optimize", "tasks")
    ]
    generates = [e["time"] for e in api if e["endpoint"] == "generate" and e["outcome"] == "ok"]
    start, end = api[0]["time"] + 2.0, max(generates)
    window = [e for e in api if start <= e["time"] <= end]
    accepted = [e for e in window if e["outcome"] != "rate_limited"]
    refused = [e for e in api if e["outcome"] == "rate_limited"]
    goodput = len(accepted) / (end - start)
    first = api[0]["time"]
    seconds = int(max(e["time"] for e in api) - first) + 1
    per_second = [[0, 0] for _ in range(seconds)]
    for entry in api:
        per_second[int(entry["time"] - first)][entry["outcome"] == "rate_limited"] += 1
    return {
        "budget": "shared through the database" if mode == "shared" else "4 local budgets",
        "R": rate,
        "jobs": jobs,
        "window_s": round(end - start, 1),
        "goodput": round(goodput, 2),
        "goodput_over_R": round(goodput / rate, 3),
        "refused_pct": round(100 * len(refused) / len(api), 2),
        "refused_in_window_pct": round(
            100 * sum(e["outcome"] == "rate_limited" for e in window) / len(window), 2
        ),
        "requests": len(api),
        "generates": len(generates),
        "wall_s": round(wall, 1),
        "accepted_refused_per_second": per_second,
    }


def shared_budget(server: str, rate: float, jobs: int, time_scale: float) -> list[dict[str, Any]]:
    rows = [_budget_run(server, mode, rate, jobs, time_scale) for mode in ("shared", "local")]
    print(
        f"\nD3 request budget: 4 workers, emulator limit R = {rate:g}/s, time scale {time_scale:g}"
    )
    _table(rows, [column for column in rows[0] if column != "accepted_refused_per_second"])
    for row in rows:
        series = " ".join(
            f"{a}/{r}" if r else str(a) for a, r in row["accepted_refused_per_second"]
        )
        print(f"  {row['budget']}: accepted(/refused) per second: {series}")
    return rows


# Running -------------------------------------------------------------------------------


def _table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        print("  ".join(str(row[c]).rjust(w) for c, w in zip(columns, widths, strict=True)))


def _cli_main(argv: list[str]) -> int:
    """
    ``_cli REPORT ARGS...``: ``a1art ARGS...`` in this process, then its peak RSS to
    REPORT as JSON.
    """
    from a1art_async._cli._app import run

    status = run(argv[1:])
    Path(argv[0]).write_text(json.dumps({"status": status, "rss_mib": peak_rss_mib()}))
    return status


def main(argv: list[str]) -> int:
    if argv[:1] == ["_worker"]:
        return _worker_main(argv[1:])
    if argv[:1] == ["_cli"]:
        return _cli_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m benchmarks.distributed")
    parser.add_argument("--quick", action="store_true", help="a few minutes")
    parser.add_argument("--only", nargs="+", choices=["D1", "D2", "D3"], default=["D1", "D2", "D3"])
    parser.add_argument("--jobs", type=int, nargs="+", help="D2's batch sizes")
    parser.add_argument("--rounds", type=int, help="D1's rounds")
    parser.add_argument("--rate", type=float, default=20.0, help="D3's limit R (20/s)")
    parser.add_argument("--budget-jobs", type=int, help="D3's jobs")
    parser.add_argument("--time-scale", type=float, default=0.05, help="D3's task time scale")
    parser.add_argument("--profile", action="store_true", help="D1: cProfile one shard")
    parser.add_argument("--json", default="benchmarks/results/distributed.json")
    args = parser.parse_args(argv)
    sizes = args.jobs or ([10_000, 100_000] if args.quick else [100_000, 1_000_000])
    rounds = args.rounds or (3 if args.quick else 7)
    budget_jobs = args.budget_jobs or (300 if args.quick else 600)
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "quick": args.quick,
    }
    with cluster(max_connections=300) as server:
        if "D1" in args.only:
            results["D1"] = bookkeeping(server, rounds, args.profile)
        if "D2" in args.only:
            results["D2"] = scale(server, sizes)
        if "D3" in args.only:
            results["D3"] = shared_budget(server, args.rate, budget_jobs, args.time_scale)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
