"""Atomic file writes: a reader sees the old complete file or the new complete file, never a partial one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` with ``os.replace``.

    The temporary file lives in the same folder, so the final rename is atomic on POSIX
    file systems. If the body raises (or the process is killed), ``target`` is untouched and
    the temporary file is removed (or, after SIGKILL, left under a ``.<name>.*.tmp`` name
    that no reader opens).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(handle)
    temporary = Path(temporary_name)
    # mkstemp creates the file as 0600; give the result the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)
    try:
        yield temporary
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise


def atomic_torch_save(obj: object, target: str | os.PathLike[str]) -> None:
    """Save ``obj`` with ``torch.save`` through :func:`atomic_path`."""
    import torch

    with atomic_path(target) as temporary:
        torch.save(obj, temporary)


def atomic_write_text(text: str, target: str | os.PathLike[str]) -> None:
    """Write ``text`` (UTF-8) to ``target`` through :func:`atomic_path`."""
    with atomic_path(target) as temporary:
        temporary.write_text(text, encoding="utf-8")
