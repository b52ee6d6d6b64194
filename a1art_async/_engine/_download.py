"""
Saving result files before their URLs expire ("The generated image address may become
invalid later", say the docs).

Files are streamed to a temporary file in the target directory and renamed into place,
so a crash never leaves a half-written file under the final name.  Names come from the
task id and the file's index, never from the URL's path, so a hostile URL cannot escape
the directory or overwrite another result; the extension follows the content type.
Requests go through a client that never carries the API key.
"""

from __future__ import annotations

import os
import random
import re
import secrets
from pathlib import Path

import anyio
import httpx

from ._errors import DownloadError, ResultExpiredError
from ._logging import logger
from ._retry import RetryPolicy, compute_backoff
from ._streams import read_capped

#: Result files above this size are refused: a generated image or short video is far
#: smaller, and an endless body must not fill the disk.
MAX_RESULT_BYTES = 512 * 1024 * 1024

_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
}
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_stem(text: str) -> str:
    """
    A file-name stem with nothing but letters, digits, dot, dash and underscore.
    """
    stem = _SAFE.sub("_", text).strip("._") or "result"
    return stem[:100]


def extension_for(content_type: str | None, url: str) -> str:
    """
    The file extension for a content type, else from the URL's last path segment.
    """
    if content_type:
        found = _EXTENSIONS.get(content_type.split(";")[0].strip().lower())
        if found:
            return found
    suffix = os.path.splitext(httpx.URL(url).path)[1].lower()
    return suffix if suffix in set(_EXTENSIONS.values()) else ".bin"


async def download(
    http: httpx.AsyncClient,
    url: str,
    directory: str | os.PathLike[str],
    stem: str,
    *,
    retry: RetryPolicy | None = None,
    max_bytes: int = MAX_RESULT_BYTES,
) -> Path:
    """
    Stream one result file to ``directory/<stem><ext>`` atomically.

    Args:
        http: The HTTP client (it must not carry the API key by default).
        url: The result URL.
        directory: Where to save; created if missing.
        stem: The file name without extension; made safe here.
        retry: Retries for transient failures (connection errors, 5xx, 429).
        max_bytes: Refuse bodies larger than this.

    Returns:
        The saved file's path.

    Raises:
        ResultExpiredError: The URL answered 403 or 404.
        DownloadError: Any other failure, after retries.
    """
    scheme = httpx.URL(url).scheme
    if scheme not in ("http", "https"):
        raise DownloadError(url, f"unsupported URL scheme {scheme!r}")
    policy = retry or RetryPolicy()
    folder = Path(directory)
    await anyio.Path(folder).mkdir(parents=True, exist_ok=True)
    jitter = random.Random()
    attempt = 0
    while True:
        try:
            return await _download_once(http, url, folder, safe_stem(stem), max_bytes)
        except _Transient as failure:
            if attempt >= policy.max_retries:
                raise DownloadError(url, str(failure), status=failure.status) from failure
            delay = compute_backoff(policy, attempt, jitter=jitter.random())
            logger.info("retrying download of %s in %.2f s: %s", url, delay, failure)
            attempt += 1
            await anyio.sleep(delay)


def _create_part_file(folder: Path, stem: str) -> tuple[int, str]:
    """
    Create a new, empty temporary file beside the target, for writing.

    Unlike ``tempfile.mkstemp`` (always 0600), the file is created with mode 0666 less
    the process's umask, as any file the user saves: 0644 under the usual umask 022.
    """
    for _ in range(100):
        name = folder / f".{stem}.{secrets.token_hex(6)}.part"
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
            return os.open(name, flags, 0o666), str(name)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name for {stem!r} in {folder}")


async def save_bytes(
    data: bytes, directory: str | os.PathLike[str], stem: str, content_type: str | None
) -> Path:
    """
    Write a result that arrived inline (base64 in the answer) to
    ``directory/<stem><ext>`` atomically, as :func:`download` does for a URL.
    """
    folder = Path(directory)
    await anyio.Path(folder).mkdir(parents=True, exist_ok=True)
    stem = safe_stem(stem)
    target = folder / (stem + extension_for(content_type, "inline"))
    fd, temp_name = _create_part_file(folder, stem)
    temp = anyio.Path(temp_name)
    try:
        async with await anyio.open_file(fd, "wb") as out:
            await out.write(data)
        await temp.replace(target)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await temp.unlink(missing_ok=True)
        raise
    return target


class _Transient(Exception):
    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


async def _download_once(
    http: httpx.AsyncClient, url: str, folder: Path, stem: str, max_bytes: int
) -> Path:
    try:
        async with http.stream("GET", url, follow_redirects=True) as response:
            status = response.status_code
            if status in (403, 404, 410):
                reason = f"HTTP {status}: the result URL expired"
                raise ResultExpiredError(url, reason, status=status)
            if status == 429 or status >= 500:
                raise _Transient(f"HTTP {status}", status)
            if status != 200:
                raise DownloadError(url, f"HTTP {status}", status=status)
            declared = response.headers.get("content-length")
            announced = int(declared) if declared and declared.isdigit() else None
            if announced is not None and announced > max_bytes:
                raise DownloadError(url, f"the file is {declared} bytes, over {max_bytes}")
            # Never keep more than was announced: a body that runs past its
            # Content-Length is not the file the server described.
            limit = max_bytes if announced is None else announced
            target = folder / (stem + extension_for(response.headers.get("content-type"), url))
            fd, temp_name = _create_part_file(folder, stem)
            temp = anyio.Path(temp_name)
            try:
                async with await anyio.open_file(fd, "wb") as out:

                    async def write(chunk: bytes) -> None:
                        await out.write(chunk)

                    if not await read_capped(response, limit, write):
                        if announced is not None:
                            reason = f"the body runs past the {announced} bytes announced"
                            raise DownloadError(url, reason)
                        raise DownloadError(url, f"the file is larger than {max_bytes} bytes")
                await temp.replace(target)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await temp.unlink(missing_ok=True)
                raise
            return target
    except httpx.TransportError as error:
        raise _Transient(f"{type(error).__name__}: {error}") from error
