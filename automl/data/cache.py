"""The decoded-pixel cache of an image folder, and the views of it that a `Dataset` holds.

An image folder is checked and decoded once; every later load of the same files (another search, each
worker process of a search) re-uses what was stored instead of decoding again::

    $AUTOML_CACHE_DIR/images/<listing key>/headers.json        the preflight: size, mode, problem of each file
                                          /64x48-rgb/pixels.npy   uint8 (N, H, W, C), one row per listed file
                                          /64x48-rgb/meta.json    files that failed to decode, the pixels' sha256

The listing key hashes every file's relative path, size and modification time (and Pillow's version, whose
decoders the pixels come from), so a changed, added or removed file gives a new entry. ``pixels.npy`` is a
plain ``.npy`` (no pickle) that is memory-mapped read-only: the pages are shared by every process that maps
them and counted once, and the operating system streams them from disk when they do not fit in memory.

The default location is ``$XDG_CACHE_HOME/automl`` (``~/.cache/automl``); set ``AUTOML_CACHE_DIR`` to put it
elsewhere (a fast local disk), and delete the folder to reclaim the space: it is rebuilt when needed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from automl.errors import ImageCacheError

# Bumped whenever what a cache entry holds, or how pixels are decoded into it, changes meaning.
# 2: JPEGs decoded at the DCT scale that keeps DCT_SCALE_MARGIN of the target, then resized bilinearly.
CACHE_VERSION = 2
PIXELS_FILE, META_FILE, HEADERS_FILE = "pixels.npy", "meta.json", "headers.json"


def cache_root() -> Path:
    """Where decoded data are kept: ``$AUTOML_CACHE_DIR``, else ``$XDG_CACHE_HOME/automl``, else ``~/.cache/automl``."""
    if os.environ.get("AUTOML_CACHE_DIR"):
        return Path(os.environ["AUTOML_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "automl"


class CachedImages:
    """Rows of a cached image folder's uint8 pixels, read on demand: one split of a `Dataset`.

    It behaves like a read-only NHWC uint8 array where the callers need one (``len``, ``shape``, indexing
    with an int, a slice or an index array, ``np.asarray``), but holds only the row numbers: the pixels stay
    in the shared memory map. Take batches with `take`; `subset` and `join` make other views of the same map.
    """

    def __init__(self, pixels: np.ndarray, rows: np.ndarray, digest: str) -> None:
        self.pixels = pixels
        self.rows = np.asarray(rows, dtype=np.int64)
        self.digest = digest  # sha256 of the whole cache entry's pixels: what the fingerprint uses

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rows), *self.pixels.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self.pixels.dtype

    @property
    def ndim(self) -> int:
        return self.pixels.ndim

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, positions: Sequence[int] | np.ndarray) -> np.ndarray:
        """The pixels of these positions (of this view), as a new array; read in file order, which is faster."""
        rows = self.rows[np.asarray(positions, dtype=np.int64)]
        order = np.argsort(rows, kind="stable")
        out = np.empty((len(rows), *self.pixels.shape[1:]), dtype=self.pixels.dtype)
        out[order] = self.pixels[rows[order]]
        return out

    def subset(self, positions: Sequence[int] | np.ndarray) -> CachedImages:
        return CachedImages(self.pixels, self.rows[np.asarray(positions, dtype=np.int64)], self.digest)

    def join(self, other: CachedImages) -> CachedImages:
        """This view followed by `other` (a view of the same cache), e.g. train + validation for a refit."""
        if other.pixels is not self.pixels and other.digest != self.digest:
            raise ValueError("only views of the same image cache can be joined")
        return CachedImages(self.pixels, np.concatenate([self.rows, other.rows]), self.digest)

    def __getitem__(self, index: Any) -> np.ndarray:
        """NumPy indexing: the first index picks rows (an int, a slice, a mask or positions), the rest applies
        to the pixels of those rows."""
        rest: tuple = ()
        if isinstance(index, tuple):
            index, rest = index[0], index[1:]
        positions = np.arange(len(self))[index]
        picked = np.array(self.pixels[self.rows[positions]]) if positions.ndim == 0 else self.take(positions)
        return picked[(slice(None),) + rest] if rest and positions.ndim else picked[rest] if rest else picked

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        values = self.take(np.arange(len(self)))
        return values if dtype is None else values.astype(dtype)

    def __repr__(self) -> str:
        shape = "x".join(str(d) for d in self.shape)
        return f"CachedImages({shape} {self.dtype}, cache {self.digest[:12]})"


def join_inputs(first: Any, second: Any) -> Any:
    """Two splits' inputs one after the other: a view for cached images, a new array otherwise."""
    if isinstance(first, CachedImages) and isinstance(second, CachedImages):
        return first.join(second)
    return np.concatenate([np.asarray(first), np.asarray(second)])


class FolderCache:
    """The cache entry of one folder listing: its stored preflight and its decoded resolutions."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def for_listing(cls, root: str, files: Sequence[tuple[str, os.stat_result]]) -> FolderCache:
        """The entry for these files under `root`, given as (path, stat): relative paths, sizes, modification times."""
        import PIL

        digest = hashlib.sha256(f"automl-image-cache:{CACHE_VERSION}:pillow-{PIL.__version__}".encode())
        for path, stat in files:  # relative paths: `automl search .` and `../photos` share one entry
            relative = os.path.relpath(path, root).replace(os.sep, "/")
            digest.update(f"\0{relative}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
        return cls(cache_root() / "images" / digest.hexdigest()[:32])

    # --- the preflight -------------------------------------------------------------------------------------
    def load_headers(self) -> list[dict] | None:
        try:
            return json.loads((self.directory / HEADERS_FILE).read_text())["files"]
        except (OSError, ValueError, KeyError, TypeError):
            return None  # absent, or unreadable: checked again

    def save_headers(self, headers: list[dict]) -> None:
        """Store the preflight; a cache that cannot be written is no reason to stop the search."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            _write_atomically(self.directory / HEADERS_FILE, json.dumps({"files": headers}))
        except OSError:
            pass

    # --- decoded pixels ------------------------------------------------------------------------------------
    def pixels(self, size: tuple[int, int], color_mode: str) -> tuple[np.ndarray, dict] | None:
        """The stored pixels at this size and colour mode (memory-mapped, read-only) and their meta, or None."""
        entry = self.directory / _resolution_name(size, color_mode)
        try:
            meta = json.loads((entry / META_FILE).read_text())
            pixels = np.load(entry / PIXELS_FILE, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError):
            return None
        if meta.get("version") != CACHE_VERSION or tuple(pixels.shape[1:3]) != tuple(size):
            return None
        return pixels, meta

    def build_pixels(
        self,
        size: tuple[int, int],
        color_mode: str,
        count: int,
        fill: Callable[[np.ndarray], dict[int, str]],
    ) -> tuple[np.ndarray, dict]:
        """Decode into a new entry with ``fill(writable (count, H, W, C) uint8 map) -> {row: failure}``.

        The entry is written under a temporary name and renamed when complete, so an interrupted decode never
        leaves a half-filled cache behind; a lock makes a second process wait for the first one's result
        instead of decoding the same folder at the same time.
        """
        from filelock import FileLock

        channels = 1 if color_mode == "grayscale" else 3
        shape = (count, int(size[0]), int(size[1]), channels)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(self.directory / ".lock"))
            lock.acquire()
        except OSError as exc:
            raise self._unwritable(exc) from exc
        try:
            found = self.pixels(size, color_mode)
            if found is not None:  # another process finished it while this one waited
                return found
            needed = int(np.prod(shape))
            free = shutil.disk_usage(self.directory).free
            if needed > free:
                raise ImageCacheError(
                    f"Decoding the images at {size[0]}x{size[1]} needs {needed / 1e9:.2f} GB in the image cache "
                    f"{self.directory}, but its disk has {free / 1e9:.2f} GB free. Free some space, set "
                    "AUTOML_CACHE_DIR to a folder on a larger disk, or choose a smaller --image-size."
                )
            final = self.directory / _resolution_name(size, color_mode)
            # Under the lock nothing else writes here: a partial entry is what a killed decode left, and an
            # entry that `pixels` could not read is broken (truncated, or its meta lost); both go.
            for stale in self.directory.glob(f".{final.name}.partial-*"):
                shutil.rmtree(stale, ignore_errors=True)
            shutil.rmtree(final, ignore_errors=True)
            partial = self.directory / f".{final.name}.partial-{uuid.uuid4().hex[:8]}"
            try:
                partial.mkdir()
                pixels = np.lib.format.open_memmap(partial / PIXELS_FILE, mode="w+", dtype=np.uint8, shape=shape)
                failures = fill(pixels)
                pixels.flush()
                meta = {
                    "version": CACHE_VERSION,
                    "image_size": list(shape[1:3]),
                    "color_mode": color_mode,
                    "count": count,
                    "failed": {str(row): reason for row, reason in sorted(failures.items())},
                    "sha256": _digest(pixels, failures),
                }
                del pixels
                _write_atomically(partial / META_FILE, json.dumps(meta))
                partial.rename(final)
            except OSError as exc:
                shutil.rmtree(partial, ignore_errors=True)
                raise self._unwritable(exc) from exc
            except BaseException:
                shutil.rmtree(partial, ignore_errors=True)  # interrupted: nothing half-written stays
                raise
        finally:
            lock.release()
        found = self.pixels(size, color_mode)
        assert found is not None, f"the image cache entry {final} vanished right after it was written"
        return found

    def remove(self, size: tuple[int, int], color_mode: str) -> None:
        """Delete one resolution's entry (a process that still maps it keeps reading it until it lets go)."""
        shutil.rmtree(self.directory / _resolution_name(size, color_mode), ignore_errors=True)

    def _unwritable(self, exc: OSError) -> ImageCacheError:
        return ImageCacheError(
            f"The image cache {self.directory} cannot be written ({type(exc).__name__}: {exc}). Images are decoded "
            "once into this cache; set AUTOML_CACHE_DIR to a writable folder with space for them."
        )


def _resolution_name(size: tuple[int, int], color_mode: str) -> str:
    return f"{int(size[0])}x{int(size[1])}-{color_mode}"


def _digest(pixels: np.ndarray, failures: dict[int, str]) -> str:
    digest = hashlib.sha256(json.dumps(sorted(failures)).encode())
    step = max(1, (64 << 20) // max(1, int(np.prod(pixels.shape[1:]))))  # ~64 MB at a time
    for start in range(0, len(pixels), step):
        digest.update(np.ascontiguousarray(pixels[start : start + step]).data)
    return digest.hexdigest()


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial-{uuid.uuid4().hex[:8]}")
    partial.write_text(text)
    partial.replace(path)
