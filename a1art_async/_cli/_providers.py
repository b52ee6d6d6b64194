"""
The APIs a job file's rows name, as ``a1art batch`` needs them: where each one's
credentials come from, its client, and how its rows are checked into engine jobs with
their board group and price, before anything is spent.

==========  ===============================  ===============================================
provider    key                              address
==========  ===============================  ===============================================
a1art       ``--api-key`` or A1ART_API_KEY   ``--base-url``, ``--region`` (a1.art's default)
akool       AKOOL_API_KEY                    ``--akool-base-url`` (akool's default origin)
gateway     GATEWAY_API_KEY                  GATEWAY_BASE_URL (required: the docs give none)
==========  ===============================  ===============================================

The global ``--api-key`` and ``--base-url`` stay a1.art's, as for every other command
of the batch; akool's client id (webhooks) comes from AKOOL_CLIENT_ID, as for ``a1art
akool``.  A run opens only the clients its rows need, and refuses to start (status 2)
when one of them has no key, naming the provider and the first row that needs it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs

from .._batch import A1ArtJob
from .._client import AsyncClient
from .._engine._batch import Job as EngineJob
from .._engine._cost import CostEstimate
from .._exceptions import A1ArtError, AppError, ValidationError
from .._generation import GenerateArgs
from .._models import App
from ..akool import _rows as akool_rows
from ..akool._cli import _policy as akool_policy
from ..akool._client import AsyncClient as AkoolClient
from ..gateway import _rows as gateway_rows
from ..gateway._cli import credits_from_environment
from ..gateway._client import AsyncClient as GatewayClient
from ..gateway._config import BASE_URL_VARIABLE as GATEWAY_BASE_URL
from ..gateway._config import KEY_VARIABLE as GATEWAY_KEY
from ._context import Context, scaled_policy
from ._exit import UsageError, describe
from ._fields import COLUMNS
from ._jobs import PROVIDERS, BadRow, Job, Row, column_of
from ._output import app_kind

#: A client of any provider a row may name.
AnyClient = AsyncClient | AkoolClient | GatewayClient

AKOOL_KEY: Final = "AKOOL_API_KEY"

#: Errors reading an app that concern that app alone: the rows that use it fail, the
#: others run.  Anything else (a bad key, the network) stops the batch.
APP_ERRORS = (AppError, ValidationError)


@attrs.frozen
class Planned:
    """
    A row that was checked and can run.

    Attributes:
        key: Its key in the journal.
        line: Its line in the job file.
        provider: The API that runs it.
        job: The engine job (submitted through its provider's client).
        group: Its line of the board and summary: the app, ``akool create``/``akool
            press``, or ``gateway`` and the model.
        kind: The summary's kind column: the app's kind, ``akool`` or ``gateway``.
        detail: What the estimate names it by: the app id, the endpoint or the model.
        estimate: What it may cost, in its API's credits.
    """

    key: str
    line: int
    provider: str
    job: EngineJob
    group: str
    kind: str
    detail: str
    estimate: CostEstimate


def provider_of(row: Job | Row) -> str:
    """
    The API a row names.
    """
    return row.provider if isinstance(row, Row) else "a1art"


def needed(rows: Sequence[Job | Row]) -> dict[str, int]:
    """
    The providers the rows name, in the order their clients are opened, each with the
    line of its first row.
    """
    first: dict[str, int] = {}
    for row in rows:
        first.setdefault(provider_of(row), row.line)
    return {name: first[name] for name in PROVIDERS if name in first}


def _environment(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def credentials(ctx: Context, provider: str, line: int | None = None) -> tuple[str, str | None]:
    """
    The key and address of *provider* for this run (``None``: the provider's own
    default address).

    Args:
        ctx: The command's options.
        provider: ``a1art``, ``akool`` or ``gateway``.
        line: The first row that needs it, for the message when something is missing.

    Raises:
        UsageError: No key (or, for the gateway, no address).
    """
    rows = f"{provider} rows" if line is None else f"{provider} rows (the first on line {line})"
    if provider == "a1art":
        try:
            return ctx.api_key, ctx.args.base_url
        except UsageError as error:
            raise UsageError(f"{error} (needed by the {rows})") from None
    if provider == "akool":
        key = _environment(AKOOL_KEY)
        if key is None:
            raise UsageError(f"no akool API key: set {AKOOL_KEY} (needed by the {rows})")
        return key, getattr(ctx.args, "akool_base_url", None)
    key = _environment(GATEWAY_KEY)
    if key is None:
        raise UsageError(f"no gateway API key: set {GATEWAY_KEY} (needed by the {rows})")
    address = _environment(GATEWAY_BASE_URL)
    if address is None:
        raise UsageError(
            f"no gateway address: set {GATEWAY_BASE_URL} (the docs give no default; "
            f"needed by the {rows})"
        )
    return key, address


def configured(ctx: Context, provider: str) -> bool:
    """
    Whether this run has what *provider*'s client needs (its key, and an address where
    there is no default).
    """
    try:
        credentials(ctx, provider)
    except UsageError:
        return False
    return True


def new_client(ctx: Context, provider: str, line: int | None = None, **options: Any) -> AnyClient:
    """
    *provider*'s client for this run (to be opened with ``async with``), with the
    command's transport and time scale; *options* go to its constructor (a shared
    request budget, say).

    Raises:
        UsageError: As :func:`credentials`.
    """
    key, address = credentials(ctx, provider, line)
    ctx.configure_logging(key)
    scale = ctx.args.time_scale
    if provider == "a1art":
        return AsyncClient(
            api_key=key,
            base_url=address,
            region=ctx.args.region,
            poll_policy=scaled_policy(scale),
            transport=ctx.transport,
            **options,
        )
    if provider == "akool":
        return AkoolClient(
            api_key=key,
            base_url=address,
            poll_policy=akool_policy(scale),
            transport=ctx.transport,
            **options,
        )
    return GatewayClient(
        api_key=key,
        base_url=address,
        poll_policy=scaled_policy(scale),
        transport=ctx.transport,
        credits=credits_from_environment(),
        **options,
    )


def app_label(app: App) -> str:
    """
    An a1.art app's group: its name (its id if it has none).
    """
    return app.name or app.id


async def fetch_apps(
    client: AsyncClient, jobs: Sequence[Job], language: str | None
) -> tuple[dict[str, App], dict[str, A1ArtError]]:
    """
    The details of every app the jobs use, read once each, before anything is spent,
    and why each app that cannot be used was refused (unknown, not API-enabled, ...).

    Raises:
        A1ArtError: Reading an app failed for a reason that is not the app's own.
    """
    apps: dict[str, App] = {}
    refused: dict[str, A1ArtError] = {}
    for app_id in dict.fromkeys(job.app_id for job in jobs):
        try:
            apps[app_id] = await client.apps.get(app_id, language=language)
        except APP_ERRORS as error:
            refused[app_id] = error
    return apps, refused


def unfit(job: Job, apps: Mapping[str, App], refused: Mapping[str, A1ArtError]) -> str | None:
    """
    Why an a1.art *job* cannot run with its app (the app was refused, or the row does
    not fit the app's forms), in the job file's words; ``None`` if it can.

    Checked here rather than by the batch, so that nothing is journaled for the row:
    once the row is fixed, running the same command again runs it.
    """
    if job.app_id in refused:
        return f"app {job.app_id}: {describe(refused[job.app_id], COLUMNS)}"
    try:
        GenerateArgs(**job.add_arguments()).plan(apps[job.app_id])
    except ValidationError as error:
        names = {**COLUMNS, "image": "images"} if job.images is not None else COLUMNS
        return describe(error, names)
    return None


async def check_a1art(
    client: AsyncClient, jobs: Sequence[Job], language: str | None
) -> tuple[list[Planned], list[BadRow]]:
    """
    a1.art rows checked against their apps' forms (the apps read once each, free).
    """
    apps, refused = await fetch_apps(client, jobs, language)
    planned: list[Planned] = []
    bad: list[BadRow] = []
    for job in jobs:
        problem = unfit(job, apps, refused)
        if problem is not None:
            bad.append(BadRow(job.line, job.key, problem, job.app_id))
            continue
        app = apps[job.app_id]
        engine_job = A1ArtJob(
            job.key,
            app,
            GenerateArgs(**job.add_arguments()),
            # The client's generator: the job reads, uploads and submits as
            # client.generate does (no public door leads to it).
            generator=client._generator,
            tasks=client.tasks,
            language=language,
        )
        estimate = await client.estimate_cost(app, count=job.count)
        planned.append(
            Planned(
                job.key,
                job.line,
                "a1art",
                engine_job,
                app_label(app),
                app_kind(app),
                app.id,
                estimate,
            )
        )
    return planned, bad


def _refused(row: Row, error: ValidationError) -> BadRow:
    column = column_of(row.provider, error.field, row.fields)
    return BadRow(row.line, row.key, f"{column}: {error.reason}", group=row.group)


def check_akool(
    client: AkoolClient, rows: Sequence[Row], base: Path
) -> tuple[list[Planned], list[BadRow]]:
    """
    akool rows checked locally (the API takes no part: rows name image links only).
    """
    planned: list[Planned] = []
    bad: list[BadRow] = []
    for row in rows:
        try:
            job = akool_rows.batch_job(client, row.row(), base)
        except ValidationError as error:
            bad.append(_refused(row, error))
            continue
        press = row.after is not None
        estimate = client.images.estimate("button" if press else "prompt")
        detail = "createbybutton" if press else "createbyprompt"
        planned.append(
            Planned(row.key, row.line, "akool", job, row.group, "akool", detail, estimate)
        )
    return planned, bad


def check_gateway(
    client: GatewayClient, rows: Sequence[Row], base: Path
) -> tuple[list[Planned], list[BadRow]]:
    """
    Gateway rows checked locally, each priced from the client's credit table.
    """
    planned: list[Planned] = []
    bad: list[BadRow] = []
    for row in rows:
        try:
            job = gateway_rows.batch_job(client, row.row(), base)
        except ValidationError as error:
            bad.append(_refused(row, error))
            continue
        model = job.request.model
        estimate = client.estimate_cost(model)
        planned.append(
            Planned(row.key, row.line, "gateway", job, row.group, "gateway", model, estimate)
        )
    return planned, bad


async def check_rows(
    clients: Mapping[str, AnyClient],
    rows: Sequence[Job | Row],
    *,
    base: Path,
    language: str | None,
    bad_rows: Sequence[BadRow] = (),
) -> tuple[list[Planned], list[BadRow]]:
    """
    Every row checked through its provider's client (free: a1.art app details only),
    in file order; a press whose row cannot run cannot run either.

    Args:
        clients: An open client for each provider the rows name.
        rows: The job file's rows that could be read.
        base: The job file's folder.
        language: The language a1.art apps are read in.
        bad_rows: The rows that could not be read (a press may name one).
    """
    planned: list[Planned] = []
    bad: list[BadRow] = []
    for provider, client in clients.items():
        if provider == "a1art":
            assert isinstance(client, AsyncClient)
            jobs = [row for row in rows if isinstance(row, Job)]
            found = await check_a1art(client, jobs, language)
        elif provider == "akool":
            assert isinstance(client, AkoolClient)
            mine = [row for row in rows if isinstance(row, Row) and row.provider == provider]
            found = check_akool(client, mine, base)
        else:
            assert isinstance(client, GatewayClient)
            mine = [row for row in rows if isinstance(row, Row) and row.provider == provider]
            found = check_gateway(client, mine, base)
        planned += found[0]
        bad += found[1]
    return _presses(planned, bad, rows, bad_rows)


def _presses(
    planned: list[Planned],
    bad: list[BadRow],
    rows: Sequence[Job | Row],
    bad_rows: Sequence[BadRow],
) -> tuple[list[Planned], list[BadRow]]:
    """
    A press runs on the image of another akool row of the file: one that names no such
    row, or a row that cannot run, fails alone before anything is spent (so does a
    press on that press, and so on down the chain).
    """
    lines = {row.key: row.line for row in (*rows, *bad_rows)}
    after = {row.key: row.after for row in rows if isinstance(row, Row) and row.after}
    runnable = {item.key: item for item in planned}
    changed = True
    while changed:
        changed = False
        for key, parent in after.items():
            if key not in runnable:
                continue
            found = runnable.get(parent)
            if found is not None and found.provider == "akool":
                continue
            if found is not None:
                reason = f"press: {parent!r} (line {found.line}) is not an akool row"
            elif parent in lines:
                reason = f"press: the row it presses on (line {lines[parent]}) cannot run"
            else:
                reason = f"press: no row of the file has the key {parent!r}"
            item = runnable.pop(key)
            bad.append(BadRow(item.line, key, reason, group=item.group))
            changed = True
    kept = [item for item in planned if item.key in runnable]
    return sorted(kept, key=lambda item: item.line), sorted(bad, key=lambda row: row.line)
