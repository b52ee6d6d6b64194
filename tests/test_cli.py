"""
The ``a1art`` command line, run as a user runs it: each command in a subprocess, against
the emulator served on loopback by ``a1art emulator serve`` (tasks at 1/1000 of their real
duration, polled on the same scale with ``--time-scale``).  No run may print the key.

Start-up is most of a run's time, so each command runs here once or twice; variants of
each are in ``test_cli_commands.py``, in-process on both backends.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from a1art_async.testing import apps, png_bytes

KEY = "sk-cli-test-7f3a9c41d2"
ROOT = Path(__file__).resolve().parent.parent
PYTHON = [sys.executable, "-m", "a1art_async"]
SCALE = "0.001"


@pytest.fixture(scope="module")
def server() -> Iterator[dict[str, str]]:
    """
    ``a1art emulator serve`` on a free loopback port; its banner as a dict.
    """
    command = [*PYTHON, "emulator", "serve", "--port", "0", "--time-scale", SCALE]
    command += ["--api-key", KEY, "--balance", "100000", "--seed", "3"]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as process:
        try:
            assert process.stdout is not None
            banner = dict(process.stdout.readline().strip().split("=", 1) for _ in range(3))
            yield banner
        finally:
            process.terminate()
            process.communicate(timeout=15)


def _environment(key: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("A1ART_API_KEY", "A1ART_LOG")}
    if key is not None:
        env["A1ART_API_KEY"] = key
    return env


def _start(server: dict[str, str] | None, args: tuple[str, ...], key: str | None) -> Any:
    options = [] if server is None else ["--base-url", server["base_url"], "--time-scale", SCALE]
    return subprocess.Popen(
        [*PYTHON, *options, *args],
        env=_environment(key),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: Any) -> subprocess.CompletedProcess[str]:
    with process:
        stdout, stderr = process.communicate(timeout=60)
    # Whatever the command and however it ends, the key is never shown.
    assert KEY not in stdout + stderr
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def cli(
    server: dict[str, str] | None, *args: str, key: str | None = KEY
) -> subprocess.CompletedProcess[str]:
    """
    Run ``python -m a1art_async ARGS`` against *server*, the key in the environment.
    """
    return _finish(_start(server, args, key))


def cli_all(
    server: dict[str, str] | None, *commands: tuple[str, ...]
) -> list[subprocess.CompletedProcess[str]]:
    """
    Run independent commands at once.
    """
    return [_finish(process) for process in [_start(server, args, KEY) for args in commands]]


def stats(server: dict[str, str]) -> dict[str, Any]:
    """
    The emulator's counters, from its admin endpoint.
    """
    body: dict[str, Any] = httpx.get(f"{server['base_url']}/_emulator/stats").json()
    return body


@pytest.fixture
def pet(tmp_path: Path) -> Path:
    path = tmp_path / "pet.png"
    path.write_bytes(png_bytes(512, 512))
    return path


def test_help_and_the_console_script() -> None:
    """
    ``--help`` lists every command and the exit statuses; the installed ``a1art`` script
    prints its version.
    """
    script = Path(sys.executable).parent / "a1art"
    with subprocess.Popen(
        [str(script), "--version"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as started:
        helped = cli(None, "--help")
        version = _finish(started)
    assert 0 == helped.returncode
    for command in ("demo", "apps", "upload", "generate", "enhance", "task", "batch", "emulator"):
        assert command in helped.stdout
    assert "exit status" in helped.stdout
    assert 0 == version.returncode
    assert version.stdout.startswith("a1art ")


def test_without_the_cli_extra_it_says_how_to_install_it() -> None:
    """
    Without rich the command says to install the ``cli`` extra from the checkout, with
    ``pip install -e '.[cli]'`` in the project directory it names, and exits 2.
    """
    code = "import sys; sys.modules['rich'] = None\nfrom a1art_async._main import main\nmain()\n"
    with subprocess.Popen(
        [sys.executable, "-c", code, "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        _, errors = process.communicate(timeout=60)
    assert 2 == process.returncode
    assert "needs the 'cli' extra (rich)" in errors
    assert f"in the project directory ({ROOT}), run\n    pip install -e '.[cli]'\n" in errors
    assert "Traceback" not in errors


def test_apps_show_json_and_an_api_error(server: dict[str, str]) -> None:
    """
    ``apps show --json`` parses as the app's details; an API error prints one line with
    its code and both messages, exits 3, and with ``--json`` is a JSON object on stdout.
    """
    shown, failed = cli_all(
        server,
        ("apps", "show", apps.NODE, "--json", "--language", "zh_CN"),
        ("-v", "apps", "show", "1234567890123456789", "--json"),
    )
    assert 0 == shown.returncode, shown.stderr
    app = json.loads(shown.stdout)["app"]
    assert (apps.NODE, 2, "form or node") == (app["id"], app["cost"], app["kind"])
    assert {"cnet", "description"} == {form["type"] for form in app["forms"]}
    assert 3 == failed.returncode
    assert (
        "a1art: API error 324012: This app does not exist / 无效的应用ID"
        == (failed.stderr.splitlines()[-1])
    )
    assert "a1art_async DEBUG" in failed.stderr
    assert "Traceback" not in failed.stderr
    error = json.loads(failed.stdout)["error"]
    assert (324012, 3, "AppNotFoundError") == (error["code"], error["exit_code"], error["type"])
    assert ("This app does not exist", "无效的应用ID") == (error["msg"], error["msg_cn"])


def test_no_key_is_a_usage_error(server: dict[str, str]) -> None:
    """
    Without ``--api-key`` or ``A1ART_API_KEY`` a command prints one line and exits 2.
    """
    done = cli(server, "apps", "show", apps.FORM, key=None)
    assert 2 == done.returncode
    assert ["a1art: no API key: pass --api-key or set A1ART_API_KEY"] == done.stderr.splitlines()


def test_upload_prints_the_stored_image(server: dict[str, str], pet: Path) -> None:
    """
    ``upload FILE --json`` answers the stored image's URL, path and size; ``-v`` logs
    every request once, without the key.
    """
    done = cli(server, "-v", "upload", str(pet), "--json")
    assert 0 == done.returncode, done.stderr
    upload = json.loads(done.stdout)["upload"]
    assert upload["image_url"].endswith(".png")
    assert upload["path"].startswith("assets/application/")
    assert (512, 512) == (upload["width"], upload["height"])
    assert "/open-api/v1/a1/images/upload -> 200" in done.stderr
    assert 1 == done.stderr.count("/images/upload")  # once, not again from httpx


def test_generate_waits_and_saves_the_results(
    server: dict[str, str], pet: Path, tmp_path: Path
) -> None:
    """
    ``generate`` fills the app's forms by meaning, waits, saves every result under
    ``--out`` and reports the task, its files and its cost.
    """
    out = tmp_path / "out"
    done = cli(
        server,
        *("generate", apps.FORM, "--image", str(pet), "--prompt", "black devon rex cat"),
        *("--style", "watercolor", "--aspect", "16:9", "--count", "2", "--out", str(out)),
        "--json",
    )
    assert 0 == done.returncode, done.stderr
    body = json.loads(done.stdout)
    assert "completed" == body["task"]["state"]
    assert 2 == len(body["task"]["images"])
    # Crazy Pet carries a `cost`, as in the docs: the charge is bounded, not exact.
    assert (2, 4, False) == (body["credits_low"], body["credits"], body["credits_exact"])
    assert sorted(str(path) for path in out.iterdir()) == sorted(body["files"])
    assert f"waiting for task {body['task']['task_id']}" in done.stderr


def test_no_wait_then_task_by_token(server: dict[str, str], pet: Path) -> None:
    """
    ``generate --no-wait`` answers a task id and a resume token at once; ``task TOKEN
    --wait`` then reports the completed task.
    """
    submitted = cli(
        server, "generate", apps.NODE, "--image", str(pet), "--prompt", "ADA", "--no-wait", "--json"
    )
    assert 0 == submitted.returncode, submitted.stderr
    body = json.loads(submitted.stdout)
    resumed = cli(server, "task", body["token"], "--wait", "--json")
    assert ("submitted", 2) == (body["state"], body["credits"])
    assert 0 == resumed.returncode, resumed.stderr
    task = json.loads(resumed.stdout)["task"]
    assert (body["task_id"], "completed") == (task["task_id"], task["state"])


def test_enhance_and_a_failed_task(server: dict[str, str], pet: Path, tmp_path: Path) -> None:
    """
    ``enhance FILE`` waits and saves the result for 3 credits; a generation whose task
    ends in state 20 exits 5 with one line.
    """
    enhanced = cli(server, "enhance", str(pet), "--out", str(tmp_path / "enhanced"), "--json")
    knobs = {"task_failure_rate": 1.0}
    assert 200 == httpx.post(f"{server['base_url']}/_emulator/faults", json=knobs).status_code
    try:
        failed = cli(server, "generate", apps.VIDEO, "--image", str(pet), "--prompt", "wind")
    finally:
        httpx.post(f"{server['base_url']}/_emulator/faults", json={"task_failure_rate": 0.0})
    assert 0 == enhanced.returncode, enhanced.stderr
    body = json.loads(enhanced.stdout)
    assert (3, "completed", 1) == (body["credits"], body["task"]["state"], len(body["files"]))
    assert 5 == failed.returncode
    last = failed.stderr.splitlines()[-1]
    assert last.startswith("a1art: task ")
    assert last.endswith(" failed")


def test_ctrl_c_after_the_generate_names_the_task_and_how_to_resume(
    server: dict[str, str], pet: Path, tmp_path: Path
) -> None:
    """
    SIGINT once the generate was sent stops ``generate`` with status 130; stderr names
    the task and the ``a1art task TOKEN --wait --out DIR`` command, which then finishes
    it and saves its result.
    """
    out = tmp_path / "out"
    before = stats(server)["generate_calls"]
    # Real-time polling (no --time-scale): the first poll is due 5 s after the submit, so
    # the command is still waiting when it is stopped.
    command = [*PYTHON, "--base-url", server["base_url"], "generate", apps.NODE]
    command += ["--image", str(pet), "--prompt", "ADA", "--out", str(out)]
    with subprocess.Popen(
        command, env=_environment(KEY), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and stats(server)["generate_calls"] == before:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=30)
    lines = errors.splitlines()
    assert 130 == process.returncode, errors
    assert KEY not in errors
    assert lines[-2].startswith("a1art: interrupted; task ")
    assert lines[-2].endswith(" goes on, 1-2 credits")
    task_id = lines[-2].split()[3]
    resume = shlex.split(lines[-1].removeprefix("resume: "))
    assert ["a1art", "--base-url", server["base_url"], "task"] == resume[:4]
    assert ["--wait", "--out", str(out)] == resume[5:]
    resumed = cli(None, *resume[1:], "--time-scale", SCALE, "--json")
    assert 0 == resumed.returncode, resumed.stderr
    body = json.loads(resumed.stdout)
    assert (task_id, "completed") == (body["task"]["task_id"], body["task"]["state"])
    assert [str(path) for path in out.iterdir()] == body["files"]
    assert before + 1 == stats(server)["generate_calls"]


JOBS = [
    {"key": "pet", "app": apps.FORM, "image": "pet.png", "prompt": "cat", "style": "Watercolor",
     "aspect": "1:1", "count": 2},
    {"key": "doll", "app": apps.NODE, "image": "pet.png", "prompt": "DR. PIXEL"},
    {"key": "couple", "app": apps.GROUP_PHOTO, "images": ["pet.png", "pet.png"],
     "style": "Polaroid", "aspect": "3:4"},
    {"key": "video", "app": apps.VIDEO, "image": "pet.png", "prompt": "leaves in the wind"},
    {"app": apps.TEXT, "prompt": "a seaside town", "style": "Seaside Town", "aspect": "16:9"},
]  # fmt: skip


def _jobs_file(directory: Path, rows: list[dict[str, Any]]) -> Path:
    (directory / "pet.png").write_bytes(png_bytes(256, 256))
    path = directory / "jobs.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_batch_estimates_runs_and_resumes(server: dict[str, str], tmp_path: Path) -> None:
    """
    ``batch --estimate`` prints the cost and spends nothing; the run saves every result;
    running the same command again skips every job and sends no generate request.
    """
    jobs = _jobs_file(tmp_path, JOBS)
    out = tmp_path / "out"
    before = stats(server)["generate_calls"]
    estimate = cli(server, "batch", str(jobs), "--estimate", "--json")
    after_estimate = stats(server)["generate_calls"]
    first = cli(server, "batch", str(jobs), "--out", str(out), "--json")
    after_first = stats(server)["generate_calls"]
    again = cli(server, "batch", str(jobs), "--out", str(out))
    assert 0 == estimate.returncode, estimate.stderr
    assert (5, 2 + 1 + 1 + 1 + 1, 4 + 2 + 1 + 10 + 1) == (
        json.loads(estimate.stdout)["jobs"],
        json.loads(estimate.stdout)["credits_low"],
        json.loads(estimate.stdout)["credits"],
    )
    assert before == after_estimate
    assert 0 == first.returncode, first.stderr
    summary = json.loads(first.stdout)["summary"]
    assert (5, 0, 6, 18) == (
        summary["done"],
        summary["failed"],
        summary["credits_low"],
        summary["credits_spent"],
    )
    assert 6 == len(list(out.iterdir()))
    assert 5 == after_first - before
    assert (tmp_path / "jobs.jsonl.journal.sqlite").exists()
    assert "[5/5]" in first.stderr
    assert 0 == again.returncode, again.stderr
    assert "5 jobs had ended in an earlier run" in again.stdout
    assert after_first == stats(server)["generate_calls"]


def test_a_batch_says_when_its_credits_are_a_range(server: dict[str, str], tmp_path: Path) -> None:
    """
    A batch whose apps are priced as a range (an app whose kind the docs leave open)
    says, under its table, that the credits are upper bounds and what the range is.
    """
    ranged = cli(server, "batch", str(_jobs_file(tmp_path, JOBS[:1])))
    (tmp_path / "exact").mkdir()
    exact = cli(server, "batch", str(_jobs_file(tmp_path / "exact", JOBS[4:])))
    assert (0, 0) == (ranged.returncode, exact.returncode), ranged.stderr + exact.stderr
    line = "credits are the most each job can cost: this run was charged between 2 and 4"
    assert (True, False) == (line in ranged.stdout, "credits are the most" in exact.stdout)


def test_a_batch_over_budget_exits_6(server: dict[str, str], tmp_path: Path) -> None:
    """
    A CSV batch whose budget stops some jobs exits 6 and lists them as failed.
    """
    (tmp_path / "pet.png").write_bytes(png_bytes(256, 256))
    rows = "".join(f"{apps.NODE},doll-{n},pet.png,NAME {n}\n" for n in range(4))
    jobs = tmp_path / "jobs.csv"
    jobs.write_text(f"app,key,image,prompt\n{rows}")
    capped = cli(server, "batch", str(jobs), "--budget", "4")
    assert 6 == capped.returncode, capped.stderr
    assert "Failed jobs" in capped.stdout
    assert 2 == capped.stdout.count("the budget of 4")


def test_an_interrupted_batch_resumes_from_its_journal(
    server: dict[str, str], tmp_path: Path
) -> None:
    """
    SIGINT stops a batch with status 130 and a hint; the same command then ends every job
    and generates none twice (jobs whose generate was in flight end as outcome unknown).
    """
    rows = [
        {"key": f"pet-{n}", "app": apps.FORM, "image": "pet.png", "prompt": f"cat {n}",
         "style": "Watercolor", "aspect": "1:1"}
        for n in range(24)
    ]  # fmt: skip
    jobs = _jobs_file(tmp_path, rows)
    journal = tmp_path / "jobs.jsonl.journal.sqlite"
    before = stats(server)["generate_calls"]
    # Real-time polling (no --time-scale): the first poll is due after ~19 s, so the
    # first run is still waiting when it is stopped.
    command = [*PYTHON, "--base-url", server["base_url"], "batch", str(jobs), "--concurrency", "4"]
    with subprocess.Popen(
        command, env=_environment(KEY), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _journal_count(journal) < 8:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=30)
    resumed = cli(server, "batch", str(jobs), "--json")
    assert 130 == process.returncode, errors
    assert "a1art: interrupted; run the same command again to resume" in errors
    assert resumed.returncode in (0, 6), resumed.stderr
    body = json.loads(resumed.stdout)
    states = [job["state"] for job in body["jobs"]]
    assert 24 == len(states)
    assert set(states) <= {"done", "unknown"}
    generated = stats(server)["generate_calls"] - before
    assert 24 - states.count("unknown") <= generated <= 24


def _journal_count(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path) as db:
            return int(db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])
    except sqlite3.Error:
        return 0
