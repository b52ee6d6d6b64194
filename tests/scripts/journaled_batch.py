"""
A batch of text-to-image jobs against a loopback emulator, with a journal; used by
test_batch_kill.py, which kills it part-way and runs it again.

    python journaled_batch.py BASE_URL API_KEY JOURNAL JOBS
"""

from __future__ import annotations

import sys

import anyio

from a1art_async import AsyncClient, PollPolicy
from a1art_async.testing import apps


async def main(base_url: str, api_key: str, journal: str, jobs: int) -> None:
    # Tasks run at a small time scale on the server, so poll on a matching scale.
    policy = PollPolicy(
        first_delay=0.05, hint_fraction=0.0, interval=0.05, max_interval=0.2, coalesce=0.01
    )
    async with (
        AsyncClient(api_key=api_key, base_url=base_url, poll_policy=policy) as client,
        client.batch(concurrency=4, journal=journal) as batch,
    ):
        for n in range(jobs):
            batch.add(
                apps.TEXT,
                key=f"job-{n}",
                prompt=f"lighthouse {n}",
                style="Seaside Town",
                aspect="1:1",
            )
        async for outcome in batch:
            print(outcome.key, outcome.state.value, outcome.task_id or "-", flush=True)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
