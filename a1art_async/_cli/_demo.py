"""
``a1art demo``: two dozen jobs across a form app, a node app, a group-photo app and the
image-to-video app, run against the built-in emulator in this process: no key, no
network.

Tasks run at ``--time-scale`` (0.04 by default: a 22 s generation takes under a second)
and the client polls on the same scale, so the whole demo takes a few seconds.  The
emulator answers after 60 ms, lets at most six tasks run at once (the rest wait in its
queue, as on the service), and fails about one task in twelve, so the board shows every
phase: queued, submitted, running, done and failed.  Results are saved under
``./a1art-demo/`` (``--out``).
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from .._client import AsyncClient
from .._engine._journal import MemoryJournal
from ..testing import Emulator, Faults, apps, png_bytes
from ._batch import outcome_json, print_summary
from ._context import Context, scaled_policy
from ._exit import ExitCode
from ._local import check_out
from ._runner import RunJob, run_jobs

DEMO_KEY = "demo-key"
DEFAULT_TIME_SCALE = 0.04
SEED = 18
BALANCE = 1000

#: What the board calls each app, and its kind.
KINDS = {
    apps.FORM: "form",
    apps.NODE: "node",
    apps.GROUP_PHOTO: "group photo",
    apps.VIDEO: "video",
}

_PETS = [
    ("black devon rex cat", "High Quality Anmie", "1:1", 2),
    ("ginger tabby kitten in a teacup", "Watercolor", "3:4", 1),
    ("golden retriever puppy", "3D Cartoon", "16:9", 2),
    ("white samoyed in the snow", "Watercolor", "4:3", 1),
    ("grey british shorthair", "High Quality Anmie", "9:16", 1),
    ("corgi in a yellow raincoat", "3D Cartoon", "1:1", 2),
    ("calico cat on a windowsill", "Watercolor", "2:1", 1),
    ("black pug with sunglasses", "High Quality Anmie", "1:1", 1),
]
_FIGURES = [
    "CAPTAIN ADA",
    "DR. PIXEL",
    "NIGHT BARISTA",
    "THE GARDENER",
    "ROBO CHEF",
    "SKATE QUEEN",
]
_COUPLES = [
    ("Wedding Studio", "3:4"),
    ("Polaroid", "1:1"),
    ("Cherry Blossom", "16:9"),
    ("Polaroid", "4:3"),
    ("Wedding Studio", "1:1"),
    ("Cherry Blossom", "3:4"),
]
_MOTIONS = [
    "leaves drifting in a summer breeze",
    "clouds rolling over the hills",
    "a slow zoom on the lighthouse",
    "rain starting to fall on the town",
]


def demo_jobs(names: dict[str, str]) -> list[RunJob]:
    """
    The demo's 24 jobs, interleaved across the four apps; *names* maps app ids to the
    board's row labels.
    """
    sizes = itertools.cycle([(512, 512), (768, 1024), (1024, 768), (640, 640)])
    form = [
        RunJob(
            f"pet-{n:02d}",
            apps.FORM,
            names[apps.FORM],
            {
                "image": png_bytes(*next(sizes)),
                "prompt": prompt,
                "style": style,
                "aspect": aspect,
                "count": count,
            },
        )
        for n, (prompt, style, aspect, count) in enumerate(_PETS, start=1)
    ]
    node = [
        RunJob(
            f"figure-{n:02d}",
            apps.NODE,
            names[apps.NODE],
            {"image": png_bytes(*next(sizes)), "prompt": name},
        )
        for n, name in enumerate(_FIGURES, start=1)
    ]
    group = [
        RunJob(
            f"couple-{n:02d}",
            apps.GROUP_PHOTO,
            names[apps.GROUP_PHOTO],
            {
                "images": [png_bytes(*next(sizes)), png_bytes(*next(sizes))],
                "style": style,
                "aspect": aspect,
            },
        )
        for n, (style, aspect) in enumerate(_COUPLES, start=1)
    ]
    video = [
        RunJob(
            f"video-{n:02d}",
            apps.VIDEO,
            names[apps.VIDEO],
            {"image": png_bytes(*next(sizes)), "prompt": motion},
        )
        for n, motion in enumerate(_MOTIONS, start=1)
    ]
    lists = [form, node, group, video]
    return [job for row in itertools.zip_longest(*lists) for job in row if job is not None]


def demo_emulator(time_scale: float) -> Emulator:
    """
    The emulator the demo runs against: six tasks at once, one in twelve failing.
    """
    faults = Faults(task_failure_rate=1 / 12, task_concurrency=6, latency=0.06)
    return Emulator(DEMO_KEY, balance=BALANCE, time_scale=time_scale, seed=SEED, faults=faults)


async def demo(ctx: Context) -> ExitCode:
    """
    ``a1art demo [--out DIR] [--time-scale F]``.
    """
    ctx.configure_logging(DEMO_KEY)
    check_out(ctx.args.out)
    scale = ctx.args.time_scale or DEFAULT_TIME_SCALE
    out = Path(ctx.args.out)
    emulator = demo_emulator(scale)
    started = time.monotonic()
    async with AsyncClient(
        api_key=DEMO_KEY, transport=emulator.transport(), poll_policy=scaled_policy(scale)
    ) as client:
        details = {app_id: await client.apps.get(app_id) for app_id in KINDS}
        names = {app_id: app.name for app_id, app in details.items()}
        jobs = [
            RunJob(job.key, details[str(job.app)], job.group, job.arguments)
            for job in demo_jobs(names)
        ]
        result = await run_jobs(
            client,
            jobs,
            title=f"a1art demo · built-in emulator · time x{scale:g}",
            console=ctx.progress_console(),
            journal=MemoryJournal(),
            concurrency=4,
            download_to=out,
        )
    wall = time.monotonic() - started
    groups = {job.key: job.group for job in jobs}
    kinds = {names[app_id]: kind for app_id, kind in KINDS.items()}
    files = sorted(path for outcome in result.outcomes for path in outcome.files)
    spent = BALANCE - emulator.balance(DEMO_KEY)
    document: dict[str, Any] = {
        "summary": {
            "jobs": len(jobs),
            "done": result.summary.done,
            "failed": result.summary.failed + result.summary.unknown,
            "credits_spent": spent,
            "wall_time": round(wall, 3),
        },
        "out": str(out),
        "files": files,
        "jobs": [outcome_json(outcome) for outcome in result.outcomes],
    }

    def text(console: Console) -> None:
        print_summary(console, result, groups, kinds=kinds)
        console.print()
        console.print(
            f"{len(files)} result files in {out}/ · {spent} of the emulator's {BALANCE} "
            "credits spent",
            markup=False,
        )
        console.print(
            "The emulator fails about one task in twelve on purpose; a batch carries on.",
            markup=False,
        )
        console.print(
            "Next: export A1ART_API_KEY=... and try `a1art apps show APP_ID`; or point "
            "your own code at a local API with `a1art emulator serve` (it needs the "
            "server extra: run pip install -e '.[server]' in the project directory).",
            markup=False,
        )

    ctx.out.emit(document, text)
    return ExitCode.OK
