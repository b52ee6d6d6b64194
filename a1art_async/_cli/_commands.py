"""
The single-shot commands: ``apps show``, ``upload``, ``generate``, ``enhance`` and
``task``.  Each returns its exit status; errors propagate to ``_app``, which prints them
as one line.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from rich.console import Console

from .._engine._cost import CostEstimate
from .._exceptions import TaskTimeoutError
from .._handles import TaskHandle
from .._models import App, FormType, Size, Task, TaskState
from ._context import Context
from ._exit import ExitCode
from ._interrupt import resume_command
from ._local import check_input, check_out
from ._output import app_json, app_kind, cost_rule, table, task_json, upload_json
from ._progress import wait_with_status


def _example_command(app: App) -> str:
    """
    A ``generate`` command line that fills every form of *app*.
    """
    parts = ["a1art", "generate", app.id]
    for form in app.forms_of(FormType.CNET):
        parts += ["--image", f"{(form.title or 'image').lower().replace(' ', '-')}.jpg"]
    if app.forms_of(FormType.DESCRIPTION):
        parts += ["--prompt", "..."]
    if app.forms_of(FormType.STYLE) and app.styles:
        parts += ["--style", app.styles[0].name or app.styles[0].id]
    if app.forms_of(FormType.SIZE):
        parts += ["--aspect", "1:1"]
    return shlex.join(parts)


def _show_app(app: App, console: Console) -> None:
    console.print(f"[bold]{app.name or app.id}[/bold]")
    facts = table("", "")
    facts.show_header = False
    facts.add_row("id", app.id)
    facts.add_row("version", app.version_id)
    facts.add_row("kind", app_kind(app))
    facts.add_row("cost", cost_rule(app))
    if app.process_time is not None:
        facts.add_row("processing", f"about {app.process_time:g} s (recent average)")
    if app.update_date is not None:
        facts.add_row("updated", app.update_date.isoformat(sep=" "))
    console.print(facts)
    console.print()
    forms = table("type", "form id", "title", "position", title="Forms")
    for form in app.forms:
        forms.add_row(form.type.value, form.id, form.title, form.position or "")
    console.print(forms)
    inputs = table("input id", "title", "tags", title="Prompt inputs (--prompt, --tag)")
    for form in app.forms_of(FormType.DESCRIPTION):
        if form.inputs:
            for item in form.inputs:
                inputs.add_row(item.id, item.title, ", ".join(item.tags))
        else:
            inputs.add_row(form.id, form.title, "")
    if inputs.row_count:
        console.print()
        console.print(inputs)
    if app.forms_of(FormType.STYLE):
        styles = table("name", "style id", title="Styles (--style)")
        for style in app.styles:
            styles.add_row(style.name, style.id)
        console.print()
        console.print(styles)
    if app.forms_of(FormType.SIZE):
        sizes = table("aspect", "sizeId", title="Sizes (--aspect)")
        for size in Size:
            sizes.add_row(size.aspect, size.size_id)
        console.print()
        console.print(sizes)
    console.print()
    console.print("example: " + _example_command(app), markup=False)


async def apps_show(ctx: Context) -> ExitCode:
    """
    ``a1art apps show APP_ID [--language LANG]``.
    """
    async with ctx.client() as client:
        app = await client.apps.get(ctx.args.app_id, language=ctx.args.language)
    ctx.out.emit({"app": app_json(app)}, lambda console: _show_app(app, console))
    return ExitCode.OK


async def upload(ctx: Context) -> ExitCode:
    """
    ``a1art upload FILE|URL``.
    """
    check_input(ctx.args.source)
    async with ctx.client() as client:
        stored = await client.images.upload(ctx.args.source)

    def text(console: Console) -> None:
        rows = table("", "")
        rows.show_header = False
        rows.add_row("image_url", stored.image_url)
        rows.add_row("path", stored.path)
        if stored.width is not None:
            rows.add_row("size", f"{stored.width}x{stored.height}")
        console.print(rows)

    ctx.out.emit({"upload": upload_json(stored)}, text)
    return ExitCode.OK


def _credits_json(body: dict[str, Any], credits: CostEstimate | None) -> None:
    if credits is not None:
        body["credits"] = credits.high
        body["credits_low"] = credits.low
        body["credits_exact"] = credits.exact


def _submitted(ctx: Context, handle: TaskHandle, credits: CostEstimate | None) -> ExitCode:
    token = handle.to_token()

    def text(console: Console) -> None:
        console.print(f"task     {handle.task_id}", markup=False)
        if credits is not None:
            console.print(f"credits  {credits}", markup=False)
        console.print(f"token    {token}", markup=False)
        console.print(f"resume:  a1art task {shlex.quote(token)} --wait", markup=False)

    body: dict[str, Any] = {"task_id": handle.task_id, "token": token, "state": "submitted"}
    _credits_json(body, credits)
    ctx.out.emit(body, text)
    return ExitCode.OK


async def _finish(
    ctx: Context, handle: TaskHandle, *, credits: CostEstimate | None = None, wait: bool = True
) -> ExitCode:
    """
    Wait for (or query) a task, save its files with ``--out``, and print it.
    """
    console = ctx.progress_console()
    if wait:
        try:
            task = await wait_with_status(handle, console, timeout=ctx.timeout)
        except TaskTimeoutError:
            resume = resume_command(ctx.args, handle)
            console.print(f"the task goes on; resume: {resume}", markup=False)
            raise
    else:
        task = await handle.refresh()
    files: list[Path] = []
    if ctx.args.out and task.state is TaskState.COMPLETED:
        files = await task.download(ctx.args.out)
    body: dict[str, Any] = {"task": task_json(task), "files": [str(path) for path in files]}
    _credits_json(body, credits)
    ctx.out.emit(body, lambda out: _show_task(task, files, credits, out))
    return ExitCode.TASK_FAILED if task.state is TaskState.FAILED else ExitCode.OK


def _show_task(
    task: Task, files: list[Path], credits: CostEstimate | None, console: Console
) -> None:
    rows = table("", "")
    rows.show_header = False
    rows.add_row("task", task.task_id)
    rows.add_row("state", task.state.name.lower())
    for name, when in (
        ("created", task.create_date),
        ("started", task.start_date),
        ("finished", task.finish_date),
    ):
        if when is not None:
            rows.add_row(name, when.isoformat(sep=" "))
    if credits is not None:
        rows.add_row("credits", str(credits))
    console.print(rows)
    for url in task.images:
        console.print(f"result   {url}", markup=False)
    for path in files:
        console.print(f"saved    {path}", markup=False)


async def generate(ctx: Context) -> ExitCode:
    """
    ``a1art generate APP_ID --image ... --prompt ... --style ... --aspect ... --count N``.
    """
    args = ctx.args
    images: list[str] = args.image
    for image in images:
        check_input(image, "--image")
    check_out(args.out)
    async with ctx.client() as client:
        app = await client.app_cache.get(args.app_id, args.language)
        credits = await client.estimate_cost(app, count=args.count)
        handle = await ctx.interrupts.submit(
            lambda: client.generate(
                app,
                image=images[0] if len(images) == 1 else None,
                images=images if len(images) > 1 else None,
                prompt=args.prompt,
                tags=args.tag,
                style=args.style,
                aspect=args.aspect,
                count=args.count,
                language=args.language,
            ),
            credits=credits,
            listening=client.listening,
        )
        if not args.wait:
            return _submitted(ctx, handle, credits)
        return await _finish(ctx, handle, credits=credits)


async def enhance(ctx: Context) -> ExitCode:
    """
    ``a1art enhance FILE|URL``: 3 credits.
    """
    check_input(ctx.args.source)
    check_out(ctx.args.out)
    async with ctx.client() as client:
        credits = await client.estimate_cost(None, enhances=1)
        handle = await ctx.interrupts.submit(
            lambda: client.images.submit_enhance(ctx.args.source),
            credits=credits,
            listening=client.listening,
        )
        if not ctx.args.wait:
            return _submitted(ctx, handle, credits)
        return await _finish(ctx, handle, credits=credits)


async def task(ctx: Context) -> ExitCode:
    """
    ``a1art task TASK_ID|TOKEN [--wait] [--out DIR]``.
    """
    ref: str = ctx.args.task.strip()
    check_out(ctx.args.out)
    async with ctx.client() as client:
        handle = client.tasks.resume(ref) if ref.startswith("{") else client.tasks.track(ref)
        ctx.interrupts.follow(handle)
        if ctx.args.wait:
            # Look once now: a task that has ended needs no wait for a first scheduled poll.
            await handle.refresh()
        return await _finish(ctx, handle, wait=ctx.args.wait)
