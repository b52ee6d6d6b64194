"""
A batch of gateway generations, synchronous and asynchronous models mixed, against a
loopback gateway emulator, with a journal and downloads; used by test_gateway_batch.py,
which kills it part-way and runs it again.

    python gateway_batch.py BASE_URL API_KEY JOURNAL OUT JOBS
"""

from __future__ import annotations

import sys

import anyio

from a1art_async import PollPolicy, gateway
from a1art_async.testing.gateway import Emulator, models

MODELS = (models.SEEDREAM, models.WANX, models.GPT_IMAGE, models.FLUX, models.JIMENG, models.KOLORS)


def params(model: str, n: int) -> dict[str, object]:
    if model in (models.WANX, models.WAN_PLUS):
        return {"input": {"prompt": f"harbour {n}"}}
    return {"prompt": f"harbour {n}"}


async def main(base_url: str, api_key: str, journal: str, out: str, jobs: int) -> None:
    # Tasks run at a small time scale on the server, so poll on a matching scale.
    policy = PollPolicy(
        first_delay=0.05, hint_fraction=0.0, interval=0.05, max_interval=0.2, coalesce=0.01
    )
    async with (
        gateway.AsyncClient(
            api_key=api_key, base_url=base_url, poll_policy=policy, credits=Emulator.prices()
        ) as client,
        client.batch(concurrency=4, journal=journal, download_to=out) as batch,
    ):
        for n in range(jobs):
            model = MODELS[n % len(MODELS)]
            batch.add(model, key=f"job-{n}", **params(model, n))
        async for outcome in batch:
            print(outcome.key, outcome.state.value, " ".join(outcome.files) or "-", flush=True)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
