"""Files the user names, read and written safely.

Atomic writes: a reader (or a crash) sees the old file or the new one, never half of one. Reading a text or
YAML file the user named, or checking that a folder can be written, fails with the caller's named error
class (say what the file is, why it cannot be used, how to fix it) instead of a UnicodeDecodeError, a YAML
parser traceback or an OSError.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def read_text_file(path: str | Path, what: str, error: type[Exception]) -> str:
    """The UTF-8 text of ``path``, the user's ``what`` (e.g. "search space file"); ``error`` if unreadable."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what} {str(path)!r} is not a UTF-8 text file (byte {exc.start} is "
                    f"{exc.object[exc.start:exc.start + 1]!r}): is it the right file?") from None
    except IsADirectoryError:
        raise error(f"{what} {str(path)!r} is a folder; pass the file itself.") from None
    except FileNotFoundError:
        raise error(f"{what} {str(path)!r} does not exist.") from None
    except OSError as exc:
        raise error(f"cannot read {what} {str(path)!r}: {exc.strerror or exc}.") from None


def read_yaml_file(path: str | Path, what: str, error: type[Exception]) -> Any:
    """The YAML document in ``path`` (None when empty); ``error`` naming the line when it does not parse."""
    return parse_yaml(read_text_file(path, what, error), f"{what} {str(path)!r}", error)


def parse_yaml(text: str, source: str, error: type[Exception]) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{source} is not valid YAML{at}: {problem}.") from None


def check_writable_folder(path: str | Path, what: str, error: type[Exception]) -> None:
    """Create ``path`` if needed and check a file can be created in it, before any expensive work."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".automl-write-check-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise error(f"cannot write {what} {str(path)!r}: {exc.strerror or exc}; pass a folder you can write to."
                    ) from None


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the user's usual mode
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str | Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling folder to fill; on success it replaces ``path`` whole.

    If the body raises, ``path`` is left exactly as it was. The swap renames the old folder aside first,
    so at every instant either the old or the new folder is complete on disk; :func:`recover_directory`
    puts the old one back if a crash hit between the two renames.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.new-", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = path.with_name(f".{path.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)


def recover_directory(path: str | Path) -> None:
    """Undo a swap of :func:`atomic_directory` that a crash interrupted, and drop unfinished temporaries."""
    path = Path(path)
    old = path.with_name(f".{path.name}.old")
    if not path.exists() and old.exists():
        os.replace(old, path)
    for leftover in path.parent.glob(f".{path.name}.new-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """A file-name-safe version of ``name`` (no separators, no leading dots): ``../x`` becomes ``x``."""
    cleaned = _UNSAFE.sub("_", name).strip("._") or "unnamed"
    return cleaned[:100]
