"""
The emulator's ``task_concurrency`` knob: a server that runs at most C tasks at once.
"""

from __future__ import annotations

import pytest

import a1art_async as a1
from a1art_async.testing import Emulator, apps

pytestmark = pytest.mark.anyio

KEY = "concurrency-key"


@pytest.fixture
def anyio_backend(virtual_backend: object) -> object:
    return virtual_backend


async def test_at_most_c_tasks_run_at_once_first_come_first_served() -> None:
    """
    With ``task_concurrency=3``, ten tasks created together never overlap more than
    three at a time, and those that wait for a slot start in creation order.
    """
    emulator = Emulator(api_key=KEY, balance=1000, seed=3)
    emulator.faults.task_concurrency = 3
    async with a1.AsyncClient(api_key=KEY, transport=emulator.transport()) as client:
        app = await client.apps.get(apps.TEXT)
        request = a1.GenerateRequest(
            app_id=app.id,
            version_id=app.version_id,
            description=[a1.DescriptionPart(app.forms_of(a1.FormType.DESCRIPTION)[0].id, "a")],
            style_id=app.styles[0].id,
            size=a1.Size.SQUARE_1_1,
        )
        ids = [await client.images.generate(request) for _ in range(10)]
    records = [emulator.tasks[task_id] for task_id in ids]
    # The first three start when their own queueing is over; the rest wait for a slot.
    waited = [record.start_at for record in records[3:]]
    assert sorted(waited) == waited
    for record in records:
        running = sum(other.start_at <= record.start_at < other.due_at for other in records)
        assert running <= 3
    assert min(record.due_at for record in records[:3]) == records[3].start_at
