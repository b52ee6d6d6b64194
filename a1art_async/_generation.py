"""
High-level generation: ``client.generate(app, image=..., prompt=..., style=..., aspect=...)``.

It fetches (and caches) the app's details, checks every argument against the app's
forms before anything is uploaded or charged, uploads the images concurrently, submits
the documented request and returns a :class:`~a1art_async.TaskHandle`.  When the app was
republished in between (324013) the server rejected the request without acting, so it
refetches the app, rebuilds the request with the same uploads and submits once more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypedDict

import anyio
import attrs

from ._engine._cost import CostEstimate
from ._engine._logging import logger
from ._engine._retry import SpendGuard
from ._exceptions import AppVersionOutdatedError
from ._forms import ENHANCE_COST, ImageArg, Plan, estimate_cost, plan
from ._handles import TaskHandle
from ._models import App, Language, Size, Upload
from ._resources import Apps, Images

#: How long app details are reused before they are fetched again, in seconds.
DEFAULT_APP_TTL = 60.0


class AppCache:
    """
    App details per (app id, language), reused for ``ttl`` seconds of the loop's clock.

    Concurrent lookups of the same app share one request: a batch of many jobs for one
    app reads its details once, not once per job.
    """

    def __init__(self, apps: Apps, ttl: float = DEFAULT_APP_TTL) -> None:
        self._apps = apps
        self.ttl = ttl
        self._entries: dict[tuple[str, str | None], tuple[float, App]] = {}
        self._pending: dict[tuple[str, str | None], anyio.Event] = {}

    async def get(
        self,
        app_id: str,
        language: str | Language | None,
        *,
        fresh: bool = False,
    ) -> App:
        """
        The app's details, from the cache unless they are older than ``ttl`` or *fresh*.
        """
        key = (app_id, None if language is None else Language.parse(language).value)
        while True:
            now = anyio.current_time()
            cached = self._entries.get(key)
            if cached is not None and not fresh and now - cached[0] < self.ttl:
                return cached[1]
            pending = self._pending.get(key)
            if pending is None:
                break
            # Another task is reading it: wait for that answer (or its failure), then
            # look again.  A fresh read wants an answer newer than it asked for.
            await pending.wait()
            fresh = fresh and self._entries.get(key, (now, None))[0] < now
        done = self._pending[key] = anyio.Event()
        try:
            app = await self._apps.get(app_id, language=language)
            self._entries[key] = (now, app)
            return app
        finally:
            del self._pending[key]
            done.set()

    def forget(self, app_id: str) -> None:
        """
        Drop every cached language of an app (after it was republished).
        """
        for key in [k for k in self._entries if k[0] == app_id]:
            del self._entries[key]


class GenerateOptions(TypedDict, total=False):
    """
    What to generate, by meaning; the keyword arguments of ``client.generate`` and
    ``batch.add``.

    Keys:
        image: The image for an app with one picture: a path, bytes, a binary file, an
            http(s) URL or an :class:`~a1art_async.Upload`.
        images: For group photos: images in position order, or keyed by position, form
            id or form title.
        prompt: The text of the (first) description form or input.
        prompts: Texts keyed by input id or title (form id for forms without inputs).
        tags: A tag from an input's ``tags`` (or a mapping of input to tag), appended to
            that input's prompt.
        style: A style's name (any case) or id.
        aspect: ``"16:9"``, a sizeId, or a :class:`~a1art_async.Size`.
        count: Images to generate, 1-4 (node and video apps make one per request;
            the server refuses more, at no charge).
    """

    image: ImageArg | None
    images: Sequence[ImageArg] | Mapping[str, ImageArg] | None
    prompt: str | None
    prompts: Mapping[str, str] | None
    tags: Mapping[str, str] | str | None
    style: str | None
    aspect: str | Size | None
    count: int


@attrs.frozen
class GenerateArgs:
    """
    What the caller asked for (see :class:`GenerateOptions`), kept to rebuild the
    request for a republished app.
    """

    image: ImageArg | None = None
    images: Sequence[ImageArg] | Mapping[str, ImageArg] | None = None
    prompt: str | None = None
    prompts: Mapping[str, str] | None = None
    tags: Mapping[str, str] | str | None = None
    style: str | None = None
    aspect: str | Size | None = None
    count: int = 1

    def plan(self, app: App) -> Plan:
        """
        Check these arguments against *app*'s forms.
        """
        return plan(app, **attrs.asdict(self, recurse=False))

    def with_uploads(self, checked: Plan, uploads: Sequence[Upload]) -> GenerateArgs:
        """
        The same arguments with every image replaced by its upload.
        """
        if self.image is not None:
            return attrs.evolve(self, image=uploads[0])
        if isinstance(self.images, Mapping):
            by_form = {
                form.id: upload for (form, _), upload in zip(checked.images, uploads, strict=True)
            }
            keyed = {
                key: by_form[form.id]
                for key in self.images
                for form, _ in checked.images
                if key in (form.position, form.id, form.title)
            }
            return attrs.evolve(self, images=keyed)
        if self.images is not None:
            return attrs.evolve(self, images=list(uploads))
        return self


class Generator:
    """
    Generation by meaning over the client's resources: check, upload, submit, and on
    324013 refetch the app and resubmit once.
    """

    def __init__(self, apps: Apps, images: Images) -> None:
        self.images = images
        self.cache = AppCache(apps)

    async def app(self, app: App | str, language: str | Language | None) -> App:
        """
        The app's details: as given, or from the cache.
        """
        return app if isinstance(app, App) else await self.cache.get(app, language)

    async def upload_all(self, checked: Plan) -> list[Upload]:
        """
        Upload every planned image that is not an upload yet, concurrently, in order.
        """
        uploads: list[Upload | None] = [None] * len(checked.images)
        failures: list[Exception] = []

        async def one(index: int, source: ImageArg) -> None:
            try:
                uploads[index] = (
                    source if isinstance(source, Upload) else await self.images.upload(source)
                )
            except Exception as error:
                # The first failure ends the others and is raised as itself, not wrapped
                # in the task group's ExceptionGroup, so callers can catch the SDK's errors.
                failures.append(error)
                group.cancel_scope.cancel()

        async with anyio.create_task_group() as group:
            for index, (_, source) in enumerate(checked.images):
                group.start_soon(one, index, source)
        if failures:
            raise failures[0]
        return [upload for upload in uploads if upload is not None]

    async def generate(
        self,
        app: App | str,
        args: GenerateArgs,
        *,
        language: str | Language | None = None,
    ) -> TaskHandle:
        """
        Check, upload, submit; on 324013 refetch the app and resubmit once.

        See :meth:`AsyncClient.generate` for the arguments and errors.
        """
        details = await self.app(app, language)
        checked = args.plan(details)
        uploads = await self.upload_all(checked)
        return await self.submit_checked(details, args, checked, uploads, language)

    async def submit_checked(
        self,
        app: App,
        args: GenerateArgs,
        checked: Plan,
        uploads: Sequence[Upload],
        language: str | Language | None = None,
        guard: SpendGuard | None = None,
    ) -> TaskHandle:
        """
        Submit a checked plan; on 324013 refetch the app, rebuild and resubmit once.
        """
        images = self.images
        try:
            return await images._submit(checked.request(uploads), app=app, guard=guard)
        except AppVersionOutdatedError:
            # The server refused the old versionId before acting on anything: safe to
            # resend.
            logger.info("app %s was republished; fetching it again and resubmitting once", app.id)
            self.cache.forget(app.id)
            fresh = await self.cache.get(app.id, language, fresh=True)
            rebuilt = args.with_uploads(checked, uploads).plan(fresh)
            return await images._submit(rebuilt.request(uploads), app=fresh, guard=guard)


def cost_of(app: App | None, count: int = 1, enhances: int = 0) -> CostEstimate:
    """
    Credits for *count* images of *app* plus *enhances* enhances.
    """
    generation = estimate_cost(app, count) if app is not None else CostEstimate.exactly(0)
    return generation + CostEstimate.exactly(ENHANCE_COST * enhances)
