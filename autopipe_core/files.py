"""Opening a stranger's file: never blocking, never following it into a device, never reading more than asked.

A checkpoint folder or a single file comes from someone else. Opening a FIFO
named ``config.json`` or ``model.safetensors`` with a plain ``open`` waits
forever for a writer; a link to ``/dev/zero`` streams forever. Every file
autopipe reads for a decision is opened here: without blocking, checked to be
a regular file before a byte is read, with the operating system's errors
turned into autopipe's typed ones.
"""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from typing import BinaryIO, Iterator

from .errors import InvalidModelError, ModelNotFoundError


@contextmanager
def open_regular(path: str | os.PathLike[str], what: str, label: str | None = None) -> Iterator[tuple[BinaryIO, int]]:
    """``(file, size)`` of the regular file at `path`, opened for reading without blocking.

    `what` names what was expected ("a safetensors file", "model_index.json")
    and `label` how the file is named in the errors (default: its path). Raises :class:`FileNotFoundError` for a missing file (the
    caller knows what that means for it), :class:`InvalidModelError` for a
    folder, a FIFO, a device or a socket, and :class:`ModelNotFoundError` (an
    OSError) for anything else the system refuses: no permission, a symlink
    loop, a name too long.
    """
    where = label or os.fspath(path)
    try:
        fd = os.open(os.fspath(path), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise InvalidModelError(f"{where} is a folder, not {what}") from None
    except OSError as exc:
        raise ModelNotFoundError(f"cannot read {where}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise InvalidModelError(f"{where} is a folder, not {what}")
        if not stat.S_ISREG(st.st_mode):
            raise InvalidModelError(
                f"{where} is not a regular file (a FIFO, a device or a socket), so it is not {what}. Replace it with the real file."
            )
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)  # a regular file: ordinary reads from here on
        f = open(fd, "rb")  # noqa: SIM115 - closed below; tests count reads through this name
    except BaseException:
        os.close(fd)
        raise
    with f:
        try:
            yield f, st.st_size
        except OSError as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            raise ModelNotFoundError(f"cannot read {where}: {exc.strerror or exc}") from None


def read_capped(path: str | os.PathLike[str], what: str, limit: int, label: str | None = None) -> bytes:
    """The whole of a small regular file, refused with :class:`InvalidModelError` when it is larger than `limit` bytes.

    The size is checked with ``fstat`` before a byte is read, and again while
    reading (a file that grows under us), so memory stays under `limit`.
    """
    where = label or os.fspath(path)
    with open_regular(path, what, where) as (f, size):
        if size > limit:
            raise InvalidModelError(f"{where} is {size} bytes; autopipe reads at most {limit}, so it is not {what}.")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise InvalidModelError(f"{where} is larger than {limit} bytes, so it is not {what}.")
    return data
