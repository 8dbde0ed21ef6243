"""Opening a stranger's file: never blocking, never following it into a device, never reading more than asked.

A checkpoint folder or a single file comes from someone else. Opening a FIFO
named ``config.json`` or ``model.safetensors`` with a plain ``open`` waits
forever for a writer; a link to ``/dev/zero`` streams forever. Every file
autopipe reads for a decision is opened here: without blocking, checked to be
a regular file before a byte is read, with the operating system's errors
turned into autopipe's typed ones.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from contextlib import contextmanager

from .errors import InvalidModelError, ModelNotFoundError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (nor pathlib): every read of a file starts here
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, BinaryIO, Callable, Iterator

#: model_index.json and component configs larger than this are refused (real ones are a few KiB).
MAX_JSON_BYTES = 1 << 20


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
            if isinstance(exc, FileNotFoundError) or exc.errno is None:  # not the system's: the reader's own (PIL's "not an image")
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


def read_json(path: str | os.PathLike[str], what: str, limit: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """Read a small JSON object, refusing what is too large, not JSON, or not an object.

    Opened through :func:`read_capped`: without blocking, checked to be a
    regular file of at most `limit` bytes before a byte is read, so a FIFO or
    a link to a device named config.json fails at once. Raises
    FileNotFoundError for a missing file (the caller says what that means),
    else :class:`InvalidModelError`. Here, not in :mod:`autopipe_core.sources`, because detection reads the
    configs its plugin ships (``toolkit.single_file.read_config``) in a cold ``autopipe resolve FILE``.
    """
    where = f"{what} ({os.fspath(path)})"
    data = read_capped(path, "a diffusers JSON file", limit, where)
    try:
        value = json.loads(data.decode("utf-8"))  # as diffusers reads it; json.loads(bytes) would also guess UTF-16/32
    except (ValueError, RecursionError) as exc:
        raise InvalidModelError(f"{where} is not valid JSON: {str(exc)[:200]}. Re-download or re-save the checkpoint.") from None
    if not isinstance(value, dict):
        raise InvalidModelError(f"{where} must hold a JSON object, not {type(value).__name__}")
    return value


def write_atomic(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> Path:
    """Write a file so that it is either whole or absent: a temporary file in the target folder, then a rename.

    The temporary name is unpredictable and created exclusively (``mkstemp``:
    ``O_CREAT | O_EXCL``), so a link planted under a guessable name is never
    followed; the rename replaces whatever is at `path` (a planted link
    included) without writing through it. `write` gets the open temporary
    file. On any failure the temporary file is removed and `path` is as it
    was. The file gets the permissions a plain ``open(path, "w")`` would
    (0o666 less the umask), not mkstemp's 0o600.
    """
    import tempfile  # here: reading, which every command does, needs none of it
    from pathlib import Path

    target = Path(path)

    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with open(fd, "wb") as f:
            write(f)
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target


def _umask() -> int:
    """The process's umask. Read from /proc where it is shown (no change to it), else set and restored at once."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
