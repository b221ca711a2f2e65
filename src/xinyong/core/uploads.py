"""Receiving uploaded files: the one path every bulk import over HTTP takes (and the case documents).

What it guarantees, whatever the route:

- **Bounded while it arrives.** A declared ``Content-Length`` over the limit is answered 413 before one byte of the
  body is read; a body without one (chunked) is cut off with 413 as soon as the file passes the limit. The limit
  is ``XINYONG_UPLOAD_MAX_BYTES``, lowered per route with :func:`limit` (error ``file_too_large``).
- **Never in clear on disk.** Starlette's own multipart parser spools a file above 1 MB to the system temporary
  folder in clear before the route runs; routers of upload routes use :class:`UploadRoute`, whose parser writes
  each file into a :class:`Spool` instead: in memory up to ``XINYONG_UPLOAD_MEMORY_BYTES``, beyond that in an
  anonymous file under ``<data dir>/tmp/uploads`` (``O_TMPFILE``, or created and unlinked at once; directory 0700,
  file 0600) encrypted with AES-256-GCM in 64 KiB chunks under a random key that exists only in this process's
  memory. A copy left behind by a killed server is unreadable (the key died with it) and, having no name, is
  freed by the kernel; a named leftover (a platform without ``O_TMPFILE`` that could not unlink) is removed by
  :func:`sweep` at start-up.
- **Always removed.** The form (and with it every spool) is closed when the route returns or fails.
- **One reading interface.** :func:`received` turns the route's ``UploadFile`` into a
  :class:`~xinyong.ingest.readers.Source` (name, SHA-256 computed while receiving, ``open()`` giving a fresh
  decrypting, seekable stream), which every importer accepts in place of a path.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import Request, Response, UploadFile
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException, MultiPartParser

from xinyong.core.errors import ConfigurationError, ValidationFailed
from xinyong.core.settings import get_settings

#: Plain bytes per encrypted chunk (each stored with its 16-byte GCM tag).
CHUNK = 64 * 1024
_SEALED = CHUNK + 16
#: Bytes of a multipart body that are not the file (boundaries, part headers, the form's small fields).
FORM_SLACK = 64 * 1024
#: Files and fields a bulk-import form may carry (one file and a few options).
MAX_FILES = 4
MAX_FIELDS = 64
#: A leftover upload file older than this is removed by :func:`sweep` even if its process seems alive.
STALE_SECONDS = 24 * 3600
_PREFIX = "upload-"

F = TypeVar("F", bound=Callable[..., Any])

CSV = "text/csv; charset=utf-8"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def attachment(
    content: bytes | str,
    filename: str,
    media_type: str,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """A download: ``Content-Disposition: attachment`` with the file's name (RFC 6266: plain when ASCII, else the
    ``filename*=UTF-8''…`` form that browsers decode to the Chinese name)."""
    if filename.isascii():
        disposition = f'attachment; filename="{filename}"'
    else:
        disposition = f"attachment; filename*=UTF-8''{quote(filename)}"
    return Response(
        content,
        status_code=status_code,
        media_type=media_type,
        headers={"Content-Disposition": disposition, **(headers or {})},
    )


class UploadTooLarge(Exception):
    """The file passed the route's limit while it was being received."""


def upload_dir() -> Path:
    """``<data dir>/tmp/uploads``, created 0700."""
    path = get_settings().data_dir / "tmp" / "uploads"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def _anonymous_file(directory: Path) -> tuple[int, str | None]:
    """A file nobody else can open: (fd, None) when it has no name, else (fd, its name) to remove on close."""
    flags = os.O_RDWR | getattr(os, "O_CLOEXEC", 0)
    tmpfile = getattr(os, "O_TMPFILE", 0)
    if tmpfile:
        try:
            return os.open(directory, tmpfile | flags, 0o600), None
        except OSError:
            pass  # a filesystem without O_TMPFILE: a named file, unlinked at once
    name = str(directory / f"{_PREFIX}{os.getpid()}-{os.urandom(8).hex()}")
    fd = os.open(name, flags | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.unlink(name)
    except OSError:
        return fd, name  # (Windows) removed on close, or by the next start-up's sweep
    return fd, None


def sweep(directory: Path | None = None) -> int:
    """Remove uploads left behind by processes that died (start-up); the number removed."""
    directory = directory or upload_dir()
    removed = 0
    now = time.time()
    for entry in directory.glob(f"{_PREFIX}*"):
        try:
            pid = int(entry.name[len(_PREFIX) :].split("-", 1)[0])
        except ValueError:
            pid = 0
        try:
            alive = pid > 0 and pid != os.getpid() and _alive(pid)
            if not alive or now - entry.stat().st_mtime > STALE_SECONDS:
                entry.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Spool:
    """The temporary copy of one uploaded file, written once then read any number of times (:meth:`open`).

    Starlette's ``UploadFile`` writes into it (in a thread pool: ``_rolled`` is true), seeks to 0 when the part is
    complete (which ends the writing), and closes it with the form.
    """

    _rolled = True

    def __init__(self, *, limit: int, memory_bytes: int, directory: Path | None = None) -> None:
        self.limit, self.memory_bytes, self.directory = limit, memory_bytes, directory
        self.size = 0
        self._digest = hashlib.sha256()
        self._sha256: str | None = None
        self._memory: bytearray | bytes | None = bytearray()
        self._pending = bytearray()  # plain bytes of the chunk being filled (file mode)
        self._fd: int | None = None
        self._name: str | None = None
        self._aead: AESGCM | None = None
        self._chunks = 0
        self._finished = False
        self._closed = False
        self._view: io.BufferedReader | io.BytesIO | None = None
        self._lock = threading.Lock()

    # Writing ------------------------------------------------------------------------------------------------

    def write(self, data: bytes) -> int:
        if self._finished or self._closed:
            raise ValueError("upload already received")
        if self.size + len(data) > self.limit:
            raise UploadTooLarge
        self.size += len(data)
        self._digest.update(data)
        if self._memory is not None:
            assert isinstance(self._memory, bytearray)
            self._memory += data
            if len(self._memory) > self.memory_bytes:
                self._roll()
        else:
            self._pending += data
            self._flush(final=False)
        return len(data)

    def _roll(self) -> None:
        """Move to an encrypted anonymous file (the key only ever in this object)."""
        self._fd, self._name = _anonymous_file(self.directory or upload_dir())
        self._aead = AESGCM(AESGCM.generate_key(bit_length=256))
        assert isinstance(self._memory, bytearray)
        self._pending, self._memory = self._memory, None
        self._flush(final=False)

    def _flush(self, *, final: bool) -> None:
        assert self._fd is not None and self._aead is not None
        start = 0
        with memoryview(self._pending) as view:
            while len(view) - start >= CHUNK or (final and start < len(view)):
                plain = bytes(view[start : start + CHUNK])
                sealed = self._aead.encrypt(self._chunks.to_bytes(12, "big"), plain, None)
                if hasattr(os, "pwrite"):
                    os.pwrite(self._fd, sealed, self._chunks * _SEALED)
                else:  # pragma: no cover - platforms without pwrite
                    self._seek_write(sealed)
                self._chunks += 1
                start += len(plain)
        del self._pending[:start]

    def _seek_write(self, sealed: bytes) -> None:
        assert self._fd is not None
        os.lseek(self._fd, self._chunks * _SEALED, os.SEEK_SET)
        os.write(self._fd, sealed)

    def finish(self) -> None:
        """The part is complete: seal the last chunk; from now on the spool is read-only."""
        if self._finished:
            return
        if self._fd is not None:
            self._flush(final=True)
        else:
            assert isinstance(self._memory, bytearray)
            self._memory = bytes(self._memory)
        self._sha256 = self._digest.hexdigest()
        self._finished = True

    # Reading ------------------------------------------------------------------------------------------------

    @property
    def encrypted_on_disk(self) -> bool:
        return self._fd is not None

    def sha256(self) -> str:
        self.finish()
        assert self._sha256 is not None
        return self._sha256

    def open(self) -> io.BufferedReader | io.BytesIO:
        """A fresh binary, seekable stream of the plain content (each caller its own position)."""
        self.finish()
        if self._closed:
            raise ValueError("upload already removed")
        if self._memory is not None:
            return io.BytesIO(self._memory)
        return io.BufferedReader(_Decrypting(self), buffer_size=CHUNK)

    def _read_chunk(self, index: int) -> bytes:
        assert self._fd is not None and self._aead is not None
        if hasattr(os, "pread"):
            sealed = os.pread(self._fd, _SEALED, index * _SEALED)
        else:  # pragma: no cover - platforms without pread
            with self._lock:
                os.lseek(self._fd, index * _SEALED, os.SEEK_SET)
                sealed = os.read(self._fd, _SEALED)
        return self._aead.decrypt(index.to_bytes(12, "big"), sealed, None)

    # The file-like face Starlette's UploadFile uses ------------------------------------------------------

    def seek(self, offset: int, whence: int = 0) -> int:
        if not self._finished and offset == 0 and whence == 0:
            self.finish()
        if self._view is None:
            self._view = self.open()
        return self._view.seek(offset, whence)

    def read(self, size: int = -1) -> bytes:
        if self._view is None:
            self._view = self.open()
        return self._view.read(size)

    def tell(self) -> int:
        return self._view.tell() if self._view is not None else self.size

    def close(self) -> None:
        """Forget the content: the memory copy is dropped, the anonymous file closed (and so freed)."""
        if self._closed:
            return
        self._closed = True
        self._memory = None
        self._pending = bytearray()
        if self._view is not None:
            self._view.close()
            self._view = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            if self._name:
                with contextlib.suppress(OSError):  # left behind: swept at the next start-up
                    os.unlink(self._name)
        self._aead = None

    @property
    def closed(self) -> bool:
        return self._closed


class _Decrypting(io.RawIOBase):
    """Random access to an encrypted spool, one chunk decrypted at a time (the last one cached)."""

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self.pos = 0
        self._index = -1
        self._plain = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.spool.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer: Any) -> int:
        if self.pos >= self.spool.size:
            return 0
        index, start = divmod(self.pos, CHUNK)
        if index != self._index:
            self._plain, self._index = self.spool._read_chunk(index), index
        part = self._plain[start : start + len(buffer)]
        buffer[: len(part)] = part
        self.pos += len(part)
        return len(part)


class Received:
    """An upload as importers read it (:class:`~xinyong.ingest.readers.Source`)."""

    def __init__(self, spool: Spool, name: str) -> None:
        self.spool, self.name = spool, name

    @property
    def size(self) -> int:
        return self.spool.size

    def open(self) -> io.BufferedReader | io.BytesIO:
        return self.spool.open()

    def sha256(self) -> str:
        return self.spool.sha256()


def received(file: UploadFile) -> Received:
    """The route's ``UploadFile`` as a source for the importers (refuses an empty file: ``file_empty``)."""
    spool = file.file
    if not isinstance(spool, Spool):
        raise ConfigurationError("上传的文件未经统一接收（路由须使用 uploads.UploadRoute）", code="upload_not_received")
    if spool.size == 0:
        raise ValidationFailed("上传的文件是空的", code="file_empty")
    return Received(spool, Path(file.filename or "upload").name[:200] or "upload")


# Receiving ------------------------------------------------------------------------------------------------------


def limit(max_bytes: int | Callable[[], int], *, code: str = "file_too_large") -> Callable[[F], F]:
    """Lower the upload limit of one route (the smaller of this and ``XINYONG_UPLOAD_MAX_BYTES`` applies)."""

    def mark(fn: F) -> F:
        fn.__upload_limit__ = (max_bytes, code)  # type: ignore[attr-defined]
        return fn

    return mark


def _limit_of(endpoint: Callable[..., Any]) -> tuple[int, str]:
    configured = get_settings().upload_max_bytes
    own = getattr(endpoint, "__upload_limit__", None)
    if own is None:
        return configured, "file_too_large"
    value, code = own
    return min(configured, value() if callable(value) else value), code


def too_large(max_bytes: int, code: str = "file_too_large") -> ValidationFailed:
    shown = f"{max_bytes / (1024 * 1024):.0f} MB" if max_bytes >= 1024 * 1024 else f"{max_bytes} 字节"
    return ValidationFailed(f"文件过大（上限 {shown}）", code=code, status_code=413, details={"limit_bytes": max_bytes})


class _SpoolingParser(MultiPartParser):
    """Starlette's multipart parser, with each file part written into a :class:`Spool` (never to disk in clear)."""

    def __init__(self, *args: Any, spool_limit: int, memory_bytes: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spool_limit, self.memory_bytes = spool_limit, memory_bytes

    def on_headers_finished(self) -> None:
        super().on_headers_finished()
        upload = self._current_part.file
        if upload is not None:
            upload.file.close()  # the empty SpooledTemporaryFile Starlette made
            spool = Spool(limit=self.spool_limit, memory_bytes=self.memory_bytes)
            upload.file = spool  # type: ignore[assignment]  # Starlette types it BinaryIO; a Spool is file-like enough
            self._files_to_close_on_error.append(spool)  # type: ignore[arg-type]  # ditto (only .close() is called)


async def receive_form(request: Request, *, max_bytes: int, code: str = "file_too_large") -> Any:
    """Parse a multipart body into spools, within ``max_bytes`` per file; the form (cached on the request, so the
    route's ``File``/``Form`` parameters read it), or None for a body that is not multipart."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + FORM_SLACK:
        raise too_large(max_bytes, code)
    parser = _SpoolingParser(
        request.headers,
        request.stream(),
        max_files=MAX_FILES,
        max_fields=MAX_FIELDS,
        spool_limit=max_bytes,
        memory_bytes=get_settings().upload_memory_bytes,
    )
    try:
        form = await parser.parse()
    except UploadTooLarge:
        raise too_large(max_bytes, code) from None
    except MultiPartException as exc:
        raise ValidationFailed(f"上传请求格式错误：{exc.message}", code="multipart_invalid", status_code=400) from None
    request._form = form  # Starlette's cache: request.form() (FastAPI's File/Form parameters) returns this form
    return form


class UploadRoute(APIRoute):
    """The route class of every router that receives files: multipart bodies go through :func:`receive_form`
    before FastAPI reads the route's parameters, and the form is closed (spools removed) however the route ends."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        endpoint = self.endpoint

        async def receive_then_handle(request: Request) -> Response:
            max_bytes, code = _limit_of(endpoint)
            try:
                form = await receive_form(request, max_bytes=max_bytes, code=code)
            except ValidationFailed as exc:
                if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
                    raise
                raise StarletteHTTPException(exc.status_code) from None  # a page: the app's HTML error page
            try:
                return await handler(request)
            finally:
                if form is not None:
                    await form.close()

        return receive_then_handle
