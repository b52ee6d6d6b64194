"""
Thousands of CSV rows through one batch: bounded concurrency, a journal, a credit budget,
results saved as they finish, and resume after an interruption.

    A1ART_API_KEY=... python examples/batch_from_csv.py jobs.csv --journal jobs.sqlite \\
        --out results/ --concurrency 16 --budget 5000

CSV columns: ``id`` (the job's key in the journal), ``image`` (a path relative to the
CSV file, or an http(s) URL), ``prompt``, ``style``, ``aspect``.  Rows are added as they
are read and images are read only when a job's turn comes, so the file can be large.

Stop it at any moment (Ctrl-C, a crash, a deploy) and run the same command again: the
journal records each job before and after every step that could spend credits, so the
second run skips what ended, polls what was submitted, and pays for no row twice.

A row whose generate request was in flight when the run stopped may or may not have been
charged: nobody can know from here.  The journal says so (``unknown``) and the batch does
not resend it by itself; ``resubmit_unknown=True`` does, once you have checked.

Without a key, ``--demo N`` shows all of this against the built-in emulator in one
process: it writes a sample CSV of N rows, runs it, interrupts the run a third of the way
through, and runs it again with the same journal.

    python examples/batch_from_csv.py --demo 2000
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio

from a1art_async import AsyncClient, BatchOutcome, JobState, PollPolicy

#: The docs' "Crazy Pet" app.
APP_ID = "1803632078862147586"
#: A progress line every this many finished rows.
REPORT_EVERY = 500


@dataclass
class Tally:
    """
    How the rows of one run ended; ``earlier`` of them had ended in an earlier run.
    """

    done: int = 0
    failed: int = 0
    unknown: int = 0
    earlier: int = 0
    credits: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        return (
            f"{self.done} done, {self.failed} failed, {self.unknown} outcome unknown "
            f"({self.earlier} of them had ended in an earlier run); "
            f"{self.credits} credits spent in this run, {self.seconds:.1f} s"
        )


def read_rows(path: Path) -> Iterator[dict[str, str]]:
    """
    The CSV's rows, one at a time, with image paths made relative to the file.
    """
    with path.open(newline="", encoding="utf-8") as file:
        for row in csv.DictReader(file):
            image = row["image"]
            if not image.startswith(("http://", "https://")):
                row["image"] = str(path.parent / image)
            yield row


async def run_csv(
    client: AsyncClient,
    path: Path,
    *,
    journal: Path,
    concurrency: int = 16,
    out: Path | None = None,
    budget: int | None = None,
    resubmit_unknown: bool = False,
    on_outcome: Callable[[BatchOutcome], None] | None = None,
) -> Tally:
    """
    Run every row of the CSV at *path* as one batch journaled in *journal*.
    """
    tally = Tally()
    async with client.batch(
        concurrency=concurrency,
        journal=journal,
        download_to=out,
        budget=budget,
        resubmit_unknown=resubmit_unknown,
    ) as batch:
        for row in read_rows(path):
            batch.add(
                APP_ID,
                key=row["id"],
                image=row["image"],
                prompt=row["prompt"],
                style=row["style"],
                aspect=row["aspect"],
            )
        async for outcome in batch:
            tally.done += outcome.state is JobState.DONE
            tally.failed += outcome.state is JobState.FAILED
            tally.unknown += outcome.state is JobState.UNKNOWN
            tally.earlier += outcome.from_journal
            if outcome.state is JobState.FAILED and not outcome.from_journal:
                print(f"  {outcome.key} failed: {outcome.error}")
            finished = tally.done + tally.failed + tally.unknown
            if finished % REPORT_EVERY == 0:
                print(f"  {finished} rows finished")
            if on_outcome is not None:
                on_outcome(outcome)
    tally.credits = batch.summary.credits_spent
    tally.seconds = batch.summary.wall_time
    return tally


def write_sample(path: Path, rows: int) -> None:
    """
    A sample CSV of *rows* jobs over eight small pictures beside it.
    """
    from a1art_async.testing import png_bytes

    pictures = []
    for n in range(8):
        picture = path.parent / f"pet-{n}.png"
        picture.write_bytes(png_bytes(256 + 32 * n, 256))
        pictures.append(picture.name)
    styles = ["High Quality Anmie", "Watercolor", "3D Cartoon"]
    aspects = ["1:1", "16:9", "3:4", "4:3"]
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["id", "image", "prompt", "style", "aspect"])
        for n in range(rows):
            writer.writerow(
                [
                    f"row-{n:05d}",
                    pictures[n % len(pictures)],
                    f"pet number {n}",
                    styles[n % len(styles)],
                    aspects[n % len(aspects)],
                ]
            )


async def demo(rows: int, directory: Path) -> None:
    """
    Run a sample CSV against the emulator, interrupt it, and resume it.
    """
    from a1art_async.testing import Emulator

    scale = 0.002  # a 22 s generation takes 44 ms
    emulator = Emulator(api_key="csv-demo-key", balance=rows * 2, time_scale=scale)
    policy = PollPolicy(first_delay=5 * scale, hint_fraction=0.875 * scale, interval=4.75 * scale)
    path, journal = directory / "jobs.csv", directory / "jobs.sqlite"
    write_sample(path, rows)
    print(f"{rows} rows in {path}")
    async with AsyncClient(
        api_key="csv-demo-key", transport=emulator.transport(), poll_policy=policy
    ) as client:
        with anyio.CancelScope() as interruption:
            seen = 0

            def interrupt_a_third_of_the_way(outcome: BatchOutcome) -> None:
                nonlocal seen
                seen += 1
                if seen == rows // 3:
                    print("  -- interrupted --")
                    interruption.cancel()

            await run_csv(client, path, journal=journal, on_outcome=interrupt_a_third_of_the_way)
        print(f"first run: interrupted after {seen} rows; the journal says where each stands")
        second = await run_csv(client, path, journal=journal)
        print(f"second run: {second}")
    if second.unknown:
        print(
            f"{second.unknown} rows had their generate request in flight when the first run "
            "stopped: they may have been charged, so they were not sent again"
        )
    print(f"generate requests: {emulator.generate_calls()} for {rows} rows, none twice")


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a CSV of jobs as one journaled batch.")
    parser.add_argument("csv", nargs="?", type=Path, help="the jobs file")
    parser.add_argument("--journal", type=Path, help="the SQLite journal (CSV.sqlite)")
    parser.add_argument("--out", type=Path, help="save the results here")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--budget", type=int, help="spend at most this many credits")
    parser.add_argument("--demo", type=int, metavar="ROWS", help="run a sample on the emulator")
    options = parser.parse_args()
    if options.demo:
        with tempfile.TemporaryDirectory() as directory:
            anyio.run(demo, options.demo, Path(directory))
        return
    if options.csv is None:
        parser.error("give a CSV file, or --demo ROWS")
    journal = options.journal or options.csv.with_suffix(".sqlite")

    async def run() -> None:
        async with AsyncClient() as client:  # the key comes from A1ART_API_KEY
            tally = await run_csv(
                client,
                options.csv,
                journal=journal,
                concurrency=options.concurrency,
                out=options.out,
                budget=options.budget,
            )
        print(tally)

    started = time.monotonic()
    try:
        anyio.run(run)
    except KeyboardInterrupt:
        print(f"interrupted after {time.monotonic() - started:.0f} s: run the same command again")
        print(f"to resume from {journal}")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
