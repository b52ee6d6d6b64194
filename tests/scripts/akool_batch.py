"""
A batch of akool creates and presses (each press on an earlier row's image) against a
loopback emulator, with a SQLite journal; used by test_akool_batch.py, which kills it
part-way and runs it again.

    python akool_batch.py BASE_URL API_KEY JOURNAL CREATES
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

from a1art_async import PollPolicy, akool
from a1art_async.akool._cli import batch_job


async def main(base_url: str, api_key: str, journal: str, creates: int) -> None:
    # Images run at a small time scale on the server, so poll on a matching scale.
    policy = PollPolicy(first_delay=0.05, interval=0.05, max_interval=0.2, coalesce=0.01)
    rows: list[dict[str, str]] = []
    for n in range(creates):
        rows.append({"provider": "akool", "key": f"c{n}", "prompt": f"lighthouse {n}"})
        if n % 2 == 0:
            rows.append({"provider": "akool", "press": f"c{n}", "button": "U1"})
    async with (
        akool.AsyncClient(api_key=api_key, base_url=base_url, poll_policy=policy) as client,
        client.batch(concurrency=3, journal=journal) as batch,
    ):
        for row in reversed(rows):  # presses queued before their parents
            batch.add_job(batch_job(client, row, Path()))
        async for outcome in batch:
            print(outcome.key, outcome.state.value, outcome.task_id or "-", flush=True)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
