"""
Upload -> generate -> poll, end to end against the built-in emulator: no API key, no
network.  Swap the emulator's transport for a real key to run it against a1.art.

    python examples/roundtrip.py
"""

from __future__ import annotations

import time

import anyio

from a1art_async import AsyncClient, CnetPart, DescriptionPart, FormType, GenerateRequest
from a1art_async.testing import Emulator, apps, png_bytes


async def main() -> None:
    # Tasks take about 22 s on a1.art; the emulator runs them 100x faster here.
    emulator = Emulator(api_key="demo-key", balance=100, time_scale=0.01)
    async with AsyncClient(api_key="demo-key", transport=emulator.transport()) as client:
        app = await client.apps.get(apps.FORM, language="en_US")
        print(f"app      {app.name} (version {app.version_id}, ~{app.process_time:.0f} s)")

        upload = await client.images.upload(png_bytes(512, 512))
        print(f"upload   {upload.image_url} ({upload.width}x{upload.height})")

        description = app.forms_of(FormType.DESCRIPTION)[0]
        request = GenerateRequest(
            app_id=app.id,
            version_id=app.version_id,
            generate_num=2,
            cnet=[CnetPart.from_upload(app.forms_of(FormType.CNET)[0].id, upload)],
            description=[DescriptionPart(description.inputs[0].id, "black devon rex cat")],
            style_id=app.styles[0].id,
            size="16:9",
        )
        task_id = await client.images.generate(request)
        print(f"task     {task_id}")

        started = time.monotonic()
        await anyio.sleep(5 * 0.01)  # the docs: wait 5 s, then poll
        while not (task := await client.tasks.get(task_id)).is_final:
            print(f"state    {task.state.name.lower()}")
            await anyio.sleep(1 * 0.01)
        print(f"state    {task.state.name.lower()} after {time.monotonic() - started:.2f} s")
        for url in task.images:
            print(f"result   {url}")
        print(f"credits  {emulator.charged()} spent, {emulator.balance('demo-key')} left")


if __name__ == "__main__":
    anyio.run(main)
