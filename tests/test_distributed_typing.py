"""
The type of ``client.batch(...)`` follows its journal, checked by mypy itself.
"""

from __future__ import annotations

from pathlib import Path

from mypy import api

SNIPPET = """
from pathlib import Path
from typing import assert_type

from a1art_async import AsyncClient, Batch
from a1art_async.distributed import DistributedBatch, PostgresJournal


def check(client: AsyncClient) -> None:
    assert_type(client.batch(), Batch)
    assert_type(client.batch(journal=Path("run.sqlite")), Batch)
    journal = PostgresJournal("postgresql://db/x", "b")
    assert_type(client.batch(journal=journal, workers=2), DistributedBatch)
    either = client.batch(journal="postgresql://db/x", batch="b")
    assert_type(either, Batch | DistributedBatch)
"""


def test_batch_is_typed_by_its_journal_without_ignores(tmp_path: Path) -> None:
    """
    mypy --strict sees a Batch for a path, a DistributedBatch for a PostgresJournal,
    and either for a string.
    """
    source = tmp_path / "snippet.py"
    source.write_text(SNIPPET)
    out, err, status = api.run(
        ["--strict", "--cache-dir", str(tmp_path / "cache"), "--no-error-summary", str(source)]
    )
    assert ("", "", 0) == (out, err, status)
