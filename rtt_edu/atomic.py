"""Files that are written whole or not at all, and file paths checked at the entrance.

:func:`atomic_write` writes the bytes to a temporary file beside the target, flushes them to
disk (``fsync``) and only then renames it over the target (``os.replace`` is atomic on POSIX
and Windows)::

    <folder>/.<name>.<pid>.<random>.tmp   --fsync-->   os.replace(tmp, <folder>/<name>)

So a crash, a full disk or a read-only folder leaves the previous file exactly as it was. Every
failure to write is a :class:`CheckpointWriteError` that names the target (never the temporary
file), and no temporary file is left behind. A process killed with SIGKILL cannot clean up: the
next write to the same target removes the temporary files of that target whose writing process
(the ``<pid>`` in the name) is gone.

Both :mod:`rtt_edu.training.checkpoint` and :mod:`rtt_edu.training.history_file` import this module; it imports
nothing of the library but its errors.
"""
from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading

from rtt_edu.errors import CheckpointError, CheckpointWriteError, check_type, require


def check_path(path, name: str = "path") -> str:
    """``path`` as a string; a ``TypeError`` (:class:`~rtt_edu.errors.RollToTrainTypeError`) naming it unless it
    is a ``str`` or ``os.PathLike``."""
    check_type(name, path, (str, os.PathLike), "a file path (str or pathlib.Path)")
    path = os.fspath(path)
    return require(isinstance(path, str) and path, name, path, "a non-empty file path", CheckpointError)


_WRITING: set = set()          # temporary files this process is writing now (never stale)
_WRITING_LOCK = threading.Lock()


def temp_pattern(path) -> re.Pattern:
    """The names of the temporary files :func:`atomic_write` makes for ``path``: group 1 is the pid."""
    return re.compile(rf"^\.{re.escape(os.path.basename(path))}\.(\d+)\.[A-Za-z0-9_]+\.tmp$")


def remove_stale_temps(path) -> list:
    """Remove the temporary files left beside ``path`` by writers that died; returns their paths.

    A temporary file is stale when the process in its name no longer runs, or is this process
    and no thread of it is writing that file. Files of any other name are never touched.
    """
    folder = os.path.dirname(os.path.abspath(path))
    pattern, removed = temp_pattern(path), []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        found = pattern.match(name)
        if found is None:
            continue
        full = os.path.join(folder, name)
        with _WRITING_LOCK:
            busy = full in _WRITING
        if busy or (int(found.group(1)) != os.getpid() and _process_alive(int(found.group(1)))):
            continue
        with contextlib.suppress(OSError):
            os.remove(full)
            removed.append(full)
    return removed


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)            # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True                # it exists (another user's), or we cannot tell: leave its file
    return True


def atomic_write(path, write, what: str = "file", verify=None) -> None:
    """Call ``write(binary_file)`` on a temporary file beside ``path``, fsync it, rename it to ``path``.

    ``verify(temporary_path)``, if given, runs before the rename and may raise to abandon the write.
    An ``OSError`` (or torch's ``RuntimeError`` for a write cut off half-way) becomes a
    :class:`CheckpointWriteError` naming ``path``; any other exception (a ``KeyboardInterrupt``)
    passes through unchanged. Either way the previous file is intact and the temporary file gone.
    """
    path = check_path(path)
    folder = os.path.dirname(os.path.abspath(path))
    require(os.path.isdir(folder), "path", path, f"a {what} path in an existing folder ({folder!r} is missing)",
            CheckpointError)
    require(not os.path.isdir(path), "path", path, f"a {what} path, not a folder", CheckpointError)
    remove_stale_temps(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.{os.getpid()}.", suffix=".tmp")
        with _WRITING_LOCK:
            _WRITING.add(tmp)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if verify is not None:
            verify(tmp)
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
        tmp_done = tmp
        tmp = None
        with _WRITING_LOCK:
            _WRITING.discard(tmp_done)
    except (OSError, RuntimeError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        reason = f"{type(exc).__name__}: {exc.strerror or exc}" if isinstance(exc, OSError) else \
            f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}"
        raise CheckpointWriteError(f"path={path!r}: the {what} could not be written ({reason}); "
                                   f"{'the previous file is unchanged' if os.path.exists(path) else 'no file was made'}"
                                   ) from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            with _WRITING_LOCK:
                _WRITING.discard(tmp)
    _fsync_folder(folder)


def _file_mode(path) -> int:
    """Keep an existing file's permissions; a new file gets the usual ``0o666 & ~umask``."""
    if os.path.exists(path):
        return os.stat(path).st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_folder(folder) -> None:
    """Make the rename itself durable (POSIX; a no-op where folders cannot be opened)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
