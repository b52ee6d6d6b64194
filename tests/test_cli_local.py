"""
Local preconditions come before spending: every command that takes an output directory,
an input file or a journal checks it first, says what is wrong in one line and exits 2,
with nothing sent to the API.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from a1art_async._cli import _local
from a1art_async._cli._app import run_parsed
from a1art_async._cli._args import parse
from a1art_async._cli._exit import ExitCode, UsageError
from a1art_async._cli._local import check_journal, check_out
from a1art_async.testing import Emulator, apps, png_bytes

KEY = "sk-local-0b7d31"


@pytest.fixture
def anyio_backend(virtual_backend: Any) -> Any:
    return virtual_backend


@pytest.fixture
def emulator() -> Emulator:
    return Emulator(api_key=KEY, balance=100, seed=2)


@pytest.fixture
def pet(tmp_path: Path) -> Path:
    path = tmp_path / "pet.png"
    path.write_bytes(png_bytes(320, 240))
    return path


async def refused(emulator: Emulator, *argv: str) -> str:
    """
    Run a command that must be refused locally: exit 2, one line on stderr, nothing on
    stdout and not one request to the API.  Returns the line.
    """
    args, _ = parse(["--api-key", KEY, *argv])
    out, err = io.StringIO(), io.StringIO()
    code = await run_parsed(args, stdout=out, stderr=err, transport=emulator.transport())
    lines = err.getvalue().splitlines()
    assert (ExitCode.USAGE, 1, "") == (code, len(lines), out.getvalue()), err.getvalue()
    assert [] == list(emulator.journal)
    return lines[0]


def _generate(pet: Path, *more: str) -> tuple[str, ...]:
    return ("generate", apps.NODE, "--image", str(pet), "--prompt", "ADA", *more)


@pytest.mark.anyio
async def test_an_out_that_is_a_file_is_refused_before_spending(
    emulator: Emulator, pet: Path, tmp_path: Path
) -> None:
    """
    ``--out`` naming an existing file, or a path under one, is refused by ``generate``,
    ``enhance``, ``task --wait`` and ``batch`` before anything is sent or charged.
    """
    taken = tmp_path / "taken.png"
    taken.write_bytes(b"not a directory")
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"app": apps.NODE, "image": "pet.png", "prompt": "ADA"}) + "\n")
    lines = [
        await refused(emulator, *_generate(pet, "--out", str(taken))),
        await refused(emulator, "enhance", str(pet), "--out", str(taken)),
        await refused(emulator, "task", "0" * 32, "--wait", "--out", str(taken)),
        await refused(emulator, "batch", str(jobs), "--out", str(taken / "sub")),
        await refused(emulator, "demo", "--out", str(taken)),
    ]
    assert [f"a1art: --out {taken}: exists and is not a directory"] * 3 == lines[:3]
    assert f"a1art: --out {taken / 'sub'}: {taken} is not a directory" == lines[3]
    assert f"a1art: --out {taken}: exists and is not a directory" == lines[4]
    assert 100 == emulator.balance(KEY)
    assert not (tmp_path / "jobs.jsonl.journal.sqlite").exists()


@pytest.mark.anyio
async def test_input_files_are_checked_before_the_app_is_read(
    emulator: Emulator, pet: Path, tmp_path: Path
) -> None:
    """
    A missing image, a directory given as an image, and a missing file for ``upload`` or
    ``enhance`` are refused before any request, naming the flag when there is one.
    """
    missing = tmp_path / "missing.png"
    lines = [
        await refused(emulator, "generate", apps.GROUP_PHOTO, "--image", str(pet),
                      "--image", str(missing), "--style", "Polaroid", "--aspect", "1:1"),
        await refused(emulator, "generate", apps.NODE, "--image", str(tmp_path), "--prompt", "x"),
        await refused(emulator, "enhance", str(missing)),
        await refused(emulator, "upload", str(missing)),
    ]  # fmt: skip
    assert [
        f"a1art: --image: no such file: {str(missing)!r}",
        f"a1art: --image: {str(tmp_path)!r} is a directory, not an image file",
        f"a1art: no such file: {str(missing)!r}",
        f"a1art: no such file: {str(missing)!r}",
    ] == lines


@pytest.mark.anyio
async def test_a_batch_journal_that_cannot_be_written_is_refused(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    A ``--journal`` in a directory that does not exist, or a default journal beside a
    job file in a directory that cannot be written, stops the batch before it starts.
    """
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"app": apps.TEXT, "prompt": "hills"}) + "\n")
    nowhere = tmp_path / "nowhere" / "run.sqlite"
    missing_dir = await refused(emulator, "batch", str(jobs), "--journal", str(nowhere))
    real_access = os.access
    monkeypatch.setattr(
        _local.os, "access", lambda path, mode: Path(path) != tmp_path and real_access(path, mode)
    )
    read_only = await refused(emulator, "batch", str(jobs))
    assert (
        f"a1art: --journal {nowhere}: the directory {nowhere.parent} does not exist" == missing_dir
    )
    assert read_only.startswith(f"a1art: the journal {jobs}.journal.sqlite: the directory ")
    assert read_only.endswith("is not writable (pass --journal FILE somewhere writable)")


def test_out_may_be_created_but_must_be_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    A new ``--out`` below an existing directory passes (it is created when results are
    saved); one below a directory that cannot be written does not, and neither does an
    empty value.
    """
    check_out(str(tmp_path / "new" / "deeper"))
    check_out(str(tmp_path))
    real_access = os.access
    monkeypatch.setattr(
        _local.os, "access", lambda path, mode: Path(path) != tmp_path and real_access(path, mode)
    )
    with pytest.raises(UsageError, match=f"--out {tmp_path / 'new'}: {tmp_path} is not writable"):
        check_out(str(tmp_path / "new"))
    with pytest.raises(UsageError, match="--out: the directory is empty"):
        check_out(" ")
    with pytest.raises(UsageError, match="exists and is not a file"):
        check_journal(tmp_path, given=True)
