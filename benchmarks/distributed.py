"""
Distributed batches' bookkeeping on a throwaway PostgreSQL cluster: enqueue throughput,
then the journal's work per job as a worker does it (a shard's page read, the claim,
``submitted``, ``done``): jobs/s, round trips and worker CPU per job, and the peak
Python memory of that work, at each batch size.  No API requests: this measures the
engine's own bookkeeping.

    python -m benchmarks.distributed [--jobs 100000 1000000] [--quick] [--json PATH]

Targets: at most 1 ms of worker CPU and a handful of round trips per job; memory flat in
batch size.  Prints a table and writes JSON (default benchmarks/results/distributed.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import tracemalloc
from pathlib import Path
from typing import Any

from a1art_async import JobRecord, JobState
from a1art_async.distributed._database import open_pool
from a1art_async.distributed._enqueue import enqueue
from a1art_async.distributed._journal import PostgresJournal
from a1art_async.distributed._queue import make_app
from a1art_async.distributed._shards import SHARD_SIZE, read_page
from tests._postgres import cluster, database

#: Shards worked through per size (the rest of the batch only sits in the journal).
SAMPLE_SHARDS = 5


async def measure(dsn: str, jobs: int) -> dict[str, Any]:
    pool = await open_pool(dsn, size=4)
    app = make_app()
    await app.open_async(pool=pool)
    name = f"bench{jobs}"
    rows = ((f"job-{n}", "a1art", {"app": "1", "prompt": f"p{n}"}) for n in range(jobs))
    started = time.perf_counter()
    result = await enqueue(pool, app, name, rows)
    enqueue_s = time.perf_counter() - started
    journal = PostgresJournal(dsn, name, worker="bench", pool=pool)
    await journal.open()
    bounds = await journal._execute("SELECT min(seq) FROM a1art_jobs WHERE batch = %s", (name,))
    lo = int(bounds[0][0])
    journal.round_trips = 0
    tracemalloc.start()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    done = 0
    for shard in range(SAMPLE_SHARDS):
        page = await read_page(journal, lo + shard * SHARD_SIZE, lo + (shard + 1) * SHARD_SIZE)
        for row in page:
            key = row.record.key
            assert await journal.transition(
                JobRecord(key, JobState.SUBMITTING, cost=1), (None, JobState.PENDING)
            )
            assert await journal.transition(
                JobRecord(key, JobState.SUBMITTED, task_id=f"t{key}", cost=1),
                (JobState.SUBMITTING, JobState.UNKNOWN),
            )
            assert await journal.transition(
                JobRecord(key, JobState.DONE, task_id=f"t{key}", cost=1),
                (JobState.SUBMITTED,),
            )
            done += 1
        del page
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    await app.close_async()
    await pool.close()
    return {
        "jobs": jobs,
        "enqueued": result.added,
        "shards": result.shards,
        "enqueue_jobs_per_s": round(jobs / enqueue_s),
        "enqueue_s": round(enqueue_s, 1),
        "claim_jobs_per_s": round(done / wall),
        "round_trips_per_job": round(journal.round_trips / done, 3),
        "cpu_ms_per_job": round(1000 * cpu / done, 3),
        "peak_python_kib": round(peak / 1024),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.distributed")
    parser.add_argument("--jobs", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--quick", action="store_true", help="10,000 and 100,000 jobs")
    parser.add_argument("--json", default="benchmarks/results/distributed.json")
    args = parser.parse_args(argv)
    sizes = [10_000, 100_000] if args.quick else args.jobs
    results = []
    with cluster() as server:
        for size in sizes:
            with database(server, f"bench{size}") as dsn:
                results.append(asyncio.run(measure(dsn, size)))
    columns = list(results[0])
    print("  ".join(f"{c:>20}" for c in columns))
    for row in results:
        print("  ".join(f"{row[c]!s:>20}" for c in columns))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
