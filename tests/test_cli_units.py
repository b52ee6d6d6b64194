"""
The command line's pure parts: job files, exit statuses, the scaled polling schedule,
key redaction in logs, and argument errors.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import re
from pathlib import Path

import pytest

from a1art_async import (
    APIError,
    AppNotFoundError,
    DownloadError,
    GenerateRequest,
    GenerationOutcomeUnknown,
    PollPolicy,
    TaskTimeoutError,
    TimeoutError,
    ValidationError,
)
from a1art_async._cli import run
from a1art_async._cli._context import Context, scaled_policy
from a1art_async._cli._exit import (
    ExitCode,
    InContext,
    UsageError,
    describe,
    error_json,
    exit_code,
)
from a1art_async._cli._fields import COLUMNS, FLAGS, reword
from a1art_async._cli._jobs import read_jobs

APP = "1803632078862147586"


def test_csv_jobs_read_every_field_and_resolve_paths(tmp_path: Path) -> None:
    """
    CSV rows become jobs with images relative to the file, URLs kept, group photos split
    on ``;``, counts as integers, and blank rows skipped; a BOM is ignored.
    """
    for name in ("cat.png", "left.png", "right.png"):
        (tmp_path / name).write_bytes(b"read by the batch when its turn comes")
    path = tmp_path / "jobs.csv"
    path.write_text(
        "\ufeffapp,key,image,images,prompt,tag,style,aspect,count\n"
        f"{APP},a,cat.png,,black cat,Obsidian_black,Watercolor,16:9,2\n"
        ",,,,,,,,\n"
        f"{APP},b,https://example.test/dog.jpg,,dog,,,,\n"
        f"{APP},c,,left.png; right.png,,,Polaroid,1:1,\n",
        encoding="utf-8",
    )
    read = read_jobs(path)
    first, second, third = read.jobs
    assert () == read.bad
    assert ("a", 2, 2) == (first.key, first.count, first.line)
    assert str(tmp_path / "cat.png") == first.image
    assert "Obsidian_black" == first.tags
    assert "https://example.test/dog.jpg" == second.image
    assert (str(tmp_path / "left.png"), str(tmp_path / "right.png")) == third.images
    assert ["left", "right"] == [Path(p).stem for p in third.add_arguments()["images"]]


def test_derived_keys_are_stable_and_distinct(tmp_path: Path) -> None:
    """
    Jobs without a key get one from what they ask for: the same job keeps its key when
    rows move, and a repeated job gets ``-2``.
    """
    one = json.dumps({"app": APP, "prompt": "a"}) + "\n"
    two = json.dumps({"app": APP, "prompt": "b"}) + "\n"
    path = tmp_path / "jobs.jsonl"
    path.write_text(one + two + one)
    keys = [job.key for job in read_jobs(path).jobs]
    path.write_text(two + one)
    moved = [job.key for job in read_jobs(path).jobs]
    assert keys[0] != keys[1]
    assert f"{keys[0]}-2" == keys[2]
    assert [keys[1], keys[0]] == moved


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ('{"prompt": "x"}', "app: missing (the app id)"),
        ('{"app": ["1"]}', 'app: must be a string, got ["1"]'),
        ('["not", "an", "object"]', "expected a JSON object"),
        ("{oops", "not JSON: "),
        ('{"app": "1", "images": "a.png"}', "images: must be a list of paths or URLs"),
        ('{"app": "1", "prompts": ["x"]}', "prompts: must be an object of texts"),
        ('{"app": "1", "tag": 3}', "tag: must be a tag, or an object of input to tag"),
        ('{"app": "1", "style": {"a": 1}}', 'style: must be a string, got {"a": 1}'),
        ('{"app": "1", "count": true}', "count: must be an integer from 1 to 4, got True"),
        ('{"app": "1", "count": "two"}', "count: must be an integer from 1 to 4, got 'two'"),
        ('{"app": "1", "count": 5}', "count: must be an integer from 1 to 4, got 5"),
        ('{"app": "1", "image": "gone.png"}', "image: no such file: 'gone.png'"),
        ('{"app": "1", "images": ["pet.png", "."]}', "images: '.' is a directory, not an image"),
        ('{"app": "1", "promt": "x"}', "promt: unknown field(s); known: app, app_id, key"),
        ('{"key": "good", "app": "1"}', "key: 'good' is used by line 1 too"),
    ],
)
def test_a_bad_row_fails_alone_naming_its_line_and_field(
    tmp_path: Path, row: str, reason: str
) -> None:
    """
    A malformed row becomes a bad row that names its line and field; the rows around it
    are read as jobs.
    """
    (tmp_path / "pet.png").write_bytes(b"an image")
    good = json.dumps({"key": "good", "app": APP, "image": "pet.png", "prompt": "cat"})
    path = tmp_path / "jobs.jsonl"
    path.write_text(f"{good}\n{row}\n\n" + good.replace('"good"', '"after"') + "\n")
    read = read_jobs(path)
    assert ["good", "after"] == [job.key for job in read.jobs]
    assert [1, 4] == [job.line for job in read.jobs]
    assert 1 == len(read.bad)
    assert 2 == read.bad[0].line
    assert read.bad[0].message.startswith(f"line 2: {reason}")
    assert read.bad[0].key not in ("good", "after")


def test_a_csv_header_with_an_unknown_column_is_a_usage_error(tmp_path: Path) -> None:
    """
    A CSV column no job takes makes every row suspect: the file is refused as a whole,
    naming the column; a CSV row with more cells than columns fails alone.
    """
    path = tmp_path / "jobs.csv"
    path.write_text(f"app,promt\n{APP},x\n")
    with pytest.raises(UsageError, match="unknown column"):
        read_jobs(path)
    path.write_text(f"app,prompt\n{APP},x,y\n{APP},z\n")
    read = read_jobs(path)
    assert [3] == [job.line for job in read.jobs]
    assert ["line 2: more cells than columns"] == [row.message for row in read.bad]


def test_an_empty_jobs_file_is_a_usage_error(tmp_path: Path) -> None:
    """
    A job file without a single row is refused as a whole.
    """
    path = tmp_path / "jobs.jsonl"
    path.write_text("\n\n")
    with pytest.raises(UsageError, match="has no jobs"):
        read_jobs(path)


def test_a_missing_jobs_file_is_a_usage_error(tmp_path: Path) -> None:
    """
    A jobs file that does not exist is a usage error naming it.
    """
    with pytest.raises(UsageError, match="cannot read the jobs file"):
        read_jobs(tmp_path / "nope.csv")


def test_every_error_has_its_documented_status() -> None:
    """
    Usage, API, service, task and other errors map to 2, 3, 4, 5 and 1, also when
    wrapped with their context.
    """
    request = GenerateRequest(app_id="a", version_id="v")
    cases = [
        (UsageError("x"), ExitCode.USAGE),
        (ValidationError("field", "reason"), ExitCode.USAGE),
        (AppNotFoundError(324012, "gone", "没了"), ExitCode.API),
        (InContext("app 1 (line 2)", APIError(810012, "m", "c")), ExitCode.API),
        (TimeoutError("slow"), ExitCode.SERVICE),
        (GenerationOutcomeUnknown(request, OSError("reset")), ExitCode.SERVICE),
        (DownloadError("https://cdn.test/x", "gone", status=404), ExitCode.SERVICE),
        (TaskTimeoutError("t", 3.0), ExitCode.SERVICE),
        (RuntimeError("bug"), ExitCode.ERROR),
    ]
    assert [status for _, status in cases] == [exit_code(error) for error, _ in cases]


def test_api_errors_describe_their_code_and_both_messages() -> None:
    """
    An API error is one line with its code and both messages, and its JSON carries them.
    """
    error = InContext("app 1 (line 2)", AppNotFoundError(324012, "This app does not exist", "无效"))
    assert "app 1 (line 2): API error 324012: This app does not exist / 无效" == describe(error)
    assert {
        "type": "AppNotFoundError",
        "message": describe(error),
        "exit_code": 3,
        "code": 324012,
        "msg": "This app does not exist",
        "msg_cn": "无效",
    } == error_json(error)
    assert "Permission denied: /x" == describe(PermissionError(13, "Permission denied", "/x"))


def test_the_time_scale_shrinks_every_wait_of_the_schedule() -> None:
    """
    ``--time-scale 0.01`` polls at a hundredth of the default waits (and values a poll
    at a hundredth of the seconds of lag); deadlines keep a floor of a minute; without it
    the policy is the default.
    """
    default = PollPolicy()
    scaled = scaled_policy(0.01)
    assert default == scaled_policy(None)
    assert pytest.approx(default.first_delay / 100) == scaled.first_delay
    assert pytest.approx(default.interval / 100) == scaled.interval
    assert pytest.approx(default.hint_fraction / 100) == scaled.hint_fraction
    assert pytest.approx(default.poll_cost / 100) == scaled.poll_cost
    assert pytest.approx(default.busy_poll_cost / 100) == scaled.busy_poll_cost
    assert 60.0 == scaled.deadline


def test_verbose_logs_never_show_the_key() -> None:
    """
    With ``-v``, a log line that happens to contain the key shows ``<secret>`` instead.
    """
    stderr = io.StringIO()
    args = argparse.Namespace(json=False, verbose=True, api_key="sk-very-secret")
    ctx = Context(args, stdout=io.StringIO(), stderr=stderr)
    try:
        ctx.configure_logging("sk-very-secret")
        logging.getLogger("a1art_async").debug("header apiKey=%s", "sk-very-secret")
    finally:
        ctx.close()
    assert "header apiKey=<secret>" in stderr.getvalue()
    assert "sk-very-secret" not in stderr.getvalue()


def test_argument_errors_are_one_line_and_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    """
    No command, an unknown option, a bad number and a bad fault knob print one line and
    return 2; ``--help`` returns 0.
    """
    statuses = [
        run([]),
        run(["task", "x", "--frobnicate"]),
        run(["generate", "1", "--count", "many"]),
        run(["emulator", "serve", "--fault", "gremlins=1"]),
        run(["--help"]),
    ]
    errors = capsys.readouterr().err.splitlines()
    assert [2, 2, 2, 2, 0] == statuses
    assert "the following arguments are required: COMMAND" in errors[0]
    assert any("unrecognized arguments: --frobnicate" in line for line in errors)
    assert any("not an integer: 'many'" in line for line in errors)
    assert any("unknown fault knobs ['gremlins']" in line for line in errors)


def test_an_empty_api_key_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    ``--api-key ""`` or a blank key exits 2 saying so, instead of falling back to
    ``A1ART_API_KEY``.
    """
    monkeypatch.setenv("A1ART_API_KEY", "sk-from-the-environment")
    statuses = [run(["--api-key", "", "apps", "show", APP]), run(["task", "x", "--api-key", " "])]
    errors = capsys.readouterr().err.splitlines()
    assert [2, 2] == statuses
    assert 2 == len(errors)
    assert all("--api-key: the key is empty" in line for line in errors)
    assert "sk-from-the-environment" not in "".join(errors)


@pytest.mark.parametrize(
    ("error", "flags", "columns"),
    [
        (
            ValidationError("image", "cnet form 'Pet' needs an image (image= or images=)"),
            "--image: cnet form 'Pet' needs an image (--image)",
            "image: cnet form 'Pet' needs an image (image or images)",
        ),
        (
            ValidationError("prompt", "form 'D' needs a prompt (prompt=, prompts= or tags=)"),
            "--prompt: form 'D' needs a prompt (--prompt or --tag)",
            "prompt: form 'D' needs a prompt (prompt, prompts or tag)",
        ),
        (
            ValidationError("size", "unknown aspect '5:4'; choose one of 1:1, 16:9"),
            "--aspect: unknown aspect '5:4'; choose one of 1:1, 16:9",
            "aspect: unknown aspect '5:4'; choose one of 1:1, 16:9",
        ),
        (
            ValidationError("generate_num", "must be an integer from 1 to 4 (got 7)"),
            "--count: must be an integer from 1 to 4 (got 7)",
            "count: must be an integer from 1 to 4 (got 7)",
        ),
        (
            ValidationError("tags", "'x' is not a tag of 'a'; choose one of 'b'"),
            "--tag: 'x' is not a tag of 'a'; choose one of 'b'",
            "tag: 'x' is not a tag of 'a'; choose one of 'b'",
        ),
        (
            ValidationError("style", "unknown style 'style=oil'"),
            "--style: unknown style 'style=oil'",
            "style: unknown style 'style=oil'",
        ),
    ],
)
def test_refused_input_is_named_by_flag_or_column(
    error: ValidationError, flags: str, columns: str
) -> None:
    """
    The SDK's Python names (``image=``, ``size``, ``generate_num``) read as the command's
    flags, or as a job file's columns; text the user typed is left alone.
    """
    assert flags == describe(error)
    assert columns == describe(error, COLUMNS)
    assert "=" not in reword(error.reason, FLAGS).replace("style=oil", "")


def test_install_hints_work_from_a_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    """
    The package is on no index: the hint installs the extra from the checkout, naming
    the project directory when it runs from one, and never a bare package name.
    """
    from a1art_async import _main

    here = _main.install_hint("The a1art command line", "cli", "rich")
    monkeypatch.setattr(_main, "checkout", lambda: None)
    elsewhere = _main.install_hint("The emulator server", "server", "uvicorn")
    root = Path(__file__).resolve().parent.parent
    assert f"in the project directory ({root}), run\n    pip install -e '.[cli]'\n" in here
    assert "the checkout with pyproject.toml), run\n    pip install -e '.[server]'" in elsewhere
    assert "a1art-async[" not in here + elsewhere


README = Path(__file__).resolve().parent.parent / "README.md"


def _readme_section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_readme_job_file_example_is_a_valid_job_file(tmp_path: Path) -> None:
    """
    The job file shown in README's "Command line" section reads as three jobs.
    """
    block = re.search(r"```jsonl\n(.*?)```", _readme_section("Command line"), re.S)
    assert block is not None
    for name in ("rex.jpg", "left.jpg", "right.jpg", "meadow.png"):
        (tmp_path / name).write_bytes(b"an image")
    path = tmp_path / "jobs.jsonl"
    path.write_text(block[1])
    read = read_jobs(path)
    jobs = read.jobs
    assert () == read.bad
    assert ["rex", "duo"] == [job.key for job in jobs[:2]]
    assert (str(tmp_path / "left.jpg"), str(tmp_path / "right.jpg")) == jobs[1].images
    assert jobs[2].derived


def test_readme_documents_every_command_and_exit_status() -> None:
    """
    README's "Command line" section names every command and every exit status, and its
    first command installs the cli extra and runs the demo.
    """
    section = _readme_section("Command line")
    for command in ("demo", "apps show", "upload", "generate", "enhance", "task", "batch"):
        assert f"`a1art {command}" in section
    assert "`a1art emulator serve" in section
    for status in ExitCode:
        assert f"\n| {int(status)} | " in section
    first = re.search(r"```sh\n(.*?)\n```", README.read_text(encoding="utf-8"), re.S)
    assert first is not None
    assert first[1].endswith("pip install -e '.[cli]' && a1art demo")
