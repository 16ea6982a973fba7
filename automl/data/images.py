"""Image folders: listing, the preflight of every file, the default input size, and decoding at that size.

A folder is read in two passes that never hold full-size pixels: the preflight opens every file's header
(size, mode, EXIF orientation, and whether it is an image at all) in parallel; then each usable file is
decoded once, straight to the target size (JPEG's DCT scaling decodes a 640-px photo at 1/4 or 1/8 of its
size when the target is small), turned upright by its EXIF orientation, converted to the colour mode and
written as uint8 into the folder's cache (`automl.data.cache`). `decode_image` is the one decoding path:
``automl predict`` uses it too, so new files are seen exactly as the training files were.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from automl.data.cache import CachedImages, FolderCache
from automl.data.dataset import Loaded
from automl.data.messages import listed, quoted, short_reason
from automl.errors import CorruptImageError, DataNotFoundError, EmptyClassFolderError, NoImagesError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
COLOR_MODES = ("grayscale", "rgb")
# An image with more pixels than this is refused (a decompression bomb, or a scan far larger than any search
# needs): Pillow's own threshold, past which it only warns up to twice the size.
MAX_PIXELS = 89_478_485
# The longest side a photo-sized image is brought down to when no --image-size is given. On a CPU each
# epoch's cost grows with the pixel count, and 64 px keeps a trial of a small CNN on a thousand photos within
# seconds an epoch (benchmarks/RESULTS.md, "Default image size"); a GPU affords ImageNet-like sizes.
CPU_LONG_SIDE = 64
GPU_LONG_SIDE = 224
# Both orientations are common when the rarer one holds at least this share: then the default is square.
MIXED_ORIENTATION_SHARE = 0.1
# PIL modes whose images are treated as grayscale when the colour mode is detected automatically.
GRAYSCALE_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
EXIF_ORIENTATION = 0x0112
# A JPEG is decoded at a DCT scale whose result keeps at least this share of the target size on each side.
DCT_SCALE_MARGIN = 0.9

# This module reports oversized images and broken EXIF blocks itself, naming the file; Pillow's warnings
# (which name no file) would only repeat them.
warnings.filterwarnings("ignore", message=".*decompression bomb.*")
warnings.filterwarnings("ignore", message="Corrupt EXIF data")


# --- progress --------------------------------------------------------------------------------------------
class _NoStage:
    def advance(self, count: int = 1) -> None:
        pass


def _open_stage(progress: Any, description: str, total: int):
    """``progress.stage(...)``, or a silent stage for progress objects written before stages existed."""
    stage = getattr(progress, "stage", None)
    opened = stage(description, total) if callable(stage) else None
    return opened if opened is not None else nullcontext(_NoStage())


T = TypeVar("T")


def usable_cores() -> int:
    """The cores this process may run on (a container's or `taskset`'s limit), not the machine's count."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def parallel_map(function: Callable[[Any], T], items: Sequence[Any], progress: Any, description: str) -> list[T]:
    """``[function(item) for item in items]`` on every core, in order, advancing a progress stage.

    Threads, not processes: Pillow releases the GIL while it decodes and resizes, threads start at once (a
    folder of 50,000 files shows progress immediately), and they write straight into a shared memory map.
    """
    results: list[Any] = [None] * len(items)
    cores = usable_cores()
    chunk = max(1, min(64, len(items) // (8 * cores) or 1))

    def run(start: int) -> int:
        for index in range(start, min(start + chunk, len(items))):
            results[index] = function(items[index])
        return min(start + chunk, len(items)) - start

    with _open_stage(progress, description, len(items)) as stage:
        pool = ThreadPoolExecutor(max_workers=cores, thread_name_prefix="automl-decode")
        try:
            for done in pool.map(run, range(0, len(items), chunk)):
                stage.advance(done)
        finally:  # on Ctrl-C or an error, drop the chunks not yet started instead of decoding the whole folder
            pool.shutdown(wait=True, cancel_futures=True)
    return results


# --- one file --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Header:
    """What the preflight learns from a file without decoding it: its upright size and mode, or its problem."""

    height: int = 0
    width: int = 0
    mode: str = ""
    orientation: int = 1  # EXIF orientation, 1 = as stored
    error: str = ""  # why the file cannot be used
    note: str = ""  # a problem that does not stop it being used (an unreadable EXIF block)

    def to_json(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict) -> Header:
        return cls(**data)


def read_header(path: Path) -> Header:
    """Open `path` lazily (headers only) and check that it is an image automl can decode."""
    from PIL import Image

    try:
        if path.stat().st_size == 0:
            return Header(error="empty file (0 bytes)")
        with Image.open(path) as img:
            return _header(img)
    except Exception as exc:  # PIL raises many types (UnidentifiedImageError, OSError, SyntaxError, ...)
        return Header(error=short_reason(exc))


def read_and_decode(path: Path, size: tuple[int, int], color_mode: str) -> tuple[Header, np.ndarray | None]:
    """`read_header` and `decode_image` with one opening of the file: its header, and its pixels when usable."""
    from PIL import Image

    try:
        if path.stat().st_size == 0:
            return Header(error="empty file (0 bytes)"), None
        with Image.open(path) as img:
            header = _header(img)
            if header.error:
                return header, None
            return header, _decode_opened(img, size, color_mode, header.orientation)
    except Exception as exc:  # a file that fails to decode is unusable, whatever the reason
        return Header(error=short_reason(exc)), None


def decode_image(path: Path, size: tuple[int, int], color_mode: str, orientation: int | None = None) -> np.ndarray:
    """Decode one file to uint8 (height, width, channels) at `size`, upright, in `color_mode`.

    Raises for files that are not images, are truncated or exceed `MAX_PIXELS`.
    """
    from PIL import Image

    with Image.open(path) as img:
        problem = _size_problem(img)
        if problem:
            raise ValueError(problem)
        if orientation is None:
            orientation, _ = _orientation(img)
        return _decode_opened(img, size, color_mode, orientation)


def _header(img) -> Header:
    problem = _size_problem(img)
    if problem:
        return Header(error=problem)
    orientation, note = _orientation(img)
    width, height = img.size
    if orientation in (5, 6, 7, 8):  # stored on its side: the upright image is the transpose
        width, height = height, width
    return Header(height=height, width=width, mode=img.mode, orientation=orientation, note=note)


def _decode_opened(img, size: tuple[int, int], color_mode: str, orientation: int) -> np.ndarray:
    """Decode an opened image at `size`: JPEGs straight at a reduced DCT scale, so full-size pixels never exist.

    The scale (1/2, 1/4, 1/8) is the smallest whose result still has `DCT_SCALE_MARGIN` of the target on each
    side: a 4:3 photo for a square 64-px input decodes at 80x60 (1/8) rather than 160x120 (1/4), a third less
    work, and the short side is stretched by 7 %. Other formats are decoded whole and resized.
    """
    from PIL import Image

    height, width = size
    if img.format in ("JPEG", "MPO"):  # MPO: a camera's JPEG holding several pictures; the first is decoded
        wanted = (math.ceil(width * DCT_SCALE_MARGIN), math.ceil(height * DCT_SCALE_MARGIN))
        img.draft(None, wanted[::-1] if orientation in (5, 6, 7, 8) else wanted)
    img.load()  # the whole (reduced) decode: truncated and garbage files fail here
    img = _to_mode(_upright(img, orientation), color_mode)
    if img.size != (width, height):  # PIL sizes are (width, height)
        img = img.resize((width, height), Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr


def _size_problem(img) -> str:
    width, height = img.size
    if width * height > MAX_PIXELS:
        return (f"{width}x{height} pixels ({width * height / 1e6:.0f} megapixels), above the {MAX_PIXELS / 1e6:.0f}-"
                "megapixel limit for one image (a decompression bomb or an oversized scan); downscale or remove it")
    return ""


def _orientation(img) -> tuple[int, str]:
    """The EXIF orientation (1 when there is none), and a note when the EXIF block cannot be read."""
    if img.format == "PNG" and "exif" not in img.info:
        return 1, ""  # Pillow's getexif() would decode the whole PNG to look for a late eXIf chunk
    try:
        exif = img.getexif()
        value = int(exif.get(EXIF_ORIENTATION, 1))
    except Exception as exc:  # a broken EXIF block: the pixels are still usable, as stored
        return 1, f"unreadable EXIF block ({short_reason(exc)}), used as stored"
    if not exif and len(img.info.get("exif") or b"") > 6:  # Pillow only warns, and reads no tag at all
        return 1, "unreadable EXIF block, used as stored"
    if value == 0:  # written by some cameras for "undefined": as stored, nothing to report
        return 1, ""
    return (value, "") if 1 <= value <= 8 else (1, f"invalid EXIF orientation {value}, used as stored")


def _upright(img, orientation: int):
    """Apply an EXIF orientation, as `PIL.ImageOps.exif_transpose` does (without re-reading the EXIF block)."""
    from PIL import Image

    method = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }.get(orientation)
    return img.transpose(method) if method is not None else img


def _to_mode(img, color_mode: str):
    """'L' or 'RGB' from any mode: 16/32-bit grayscale is brought down to 0..255 instead of being clipped."""
    from PIL import Image

    mode = img.mode
    if mode.startswith("I") or mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        if mode.startswith("I;16") or arr.max(initial=0.0) > 255:
            arr = arr / 257.0
        img = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), mode="L")
    elif mode in GRAYSCALE_MODES:
        img = img.convert("L")
    wanted = "L" if color_mode == "grayscale" else "RGB"
    return img if img.mode == wanted else img.convert(wanted)


# --- the folder ------------------------------------------------------------------------------------------
def image_files(folder: Path | str) -> list[Path]:
    """Image files anywhere under `folder`, sorted, skipping hidden files and folders (e.g. macOS '._x.png')."""
    return [Path(path) for path, _ in _scan_images(str(folder))]


def _scan_images(folder: str, visited: set[tuple[int, int]] | None = None) -> list[tuple[str, os.stat_result]]:
    """(path, stat) of the image files under `folder`, sorted by path: one stat per file, from scandir, so a
    folder of 50,000 files is listed in a fraction of a second.

    Symlinked folders are followed, each folder once: `visited` holds the (device, inode) of folders already
    listed (shared across class folders, so a link to the root or to another class adds nothing)."""
    found: list[tuple[str, os.stat_result]] = []
    pending = [folder]
    visited = set() if visited is None else visited
    while pending:
        current = pending.pop()
        try:
            stat = os.stat(current)
            if (stat.st_dev, stat.st_ino) in visited:
                continue
            visited.add((stat.st_dev, stat.st_ino))
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                pending.append(entry.path)
            elif entry.name.lower().endswith(IMAGE_EXTENSIONS) and entry.is_file():
                found.append((entry.path, entry.stat()))
    return sorted(found, key=lambda item: item[0])


def gpu_present() -> bool:
    """An NVIDIA GPU this process may use, seen without importing TensorFlow (which costs seconds)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return False
    gpus = Path("/proc/driver/nvidia/gpus")
    return gpus.is_dir() and any(gpus.iterdir())


def default_image_size(headers: Sequence[Header], gpu: bool | None = None) -> tuple[tuple[int, int], str]:
    """The input size when none is given, and a sentence saying how it was chosen.

    The most common (upright) size; a photo-sized one is brought down to `CPU_LONG_SIDE` (`GPU_LONG_SIDE` on
    a GPU) on its long side, keeping its aspect ratio, or made square when both orientations are common.
    Small images (such as 8x8 digits) are never enlarged.
    """
    sizes = Counter((h.height, h.width) for h in headers)
    (height, width), _ = sizes.most_common(1)[0]  # ties: the first seen, in sorted file order
    bound = GPU_LONG_SIDE if (gpu_present() if gpu is None else gpu) else CPU_LONG_SIDE
    common = f"the most common size, {height}x{width}"
    if max(height, width) <= bound:
        return (height, width), f"{common} (images are never enlarged)"
    where = "a GPU" if bound == GPU_LONG_SIDE else "a CPU"
    landscape = sum(n for (h, w), n in sizes.items() if w > h)
    portrait = sum(n for (h, w), n in sizes.items() if h > w)
    if min(landscape, portrait) >= MIXED_ORIENTATION_SHARE * len(headers):
        return (bound, bound), (f"square, {bound} px a side for {where}: {landscape} landscape and {portrait} "
                                f"portrait images (the most common size is {height}x{width})")
    how = f"{common}, brought down to {bound} px on its long side for {where}"
    return scaled_image_size((height, width), bound), how


def scaled_image_size(size: Sequence[int], long_side: int) -> tuple[int, int]:
    """(height, width) brought to ``long_side`` pixels on its long side, aspect kept."""
    height, width = (int(v) for v in size)
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def load_image_folder(
    root: Path,
    image_size: tuple[int, int] | None,
    color_mode: str | None,
    skip_corrupt: bool,
    progress: Any = None,
) -> Loaded:
    class_dirs = sorted((d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")), key=lambda d: d.name)
    root_stat = root.stat()
    visited = {(root_stat.st_dev, root_stat.st_ino)}
    for d in class_dirs:
        d_stat = d.stat()
        visited.add((d_stat.st_dev, d_stat.st_ino))
    # Each class folder is listed from its own root: drop it from `visited` just before its own scan.
    scanned = {}
    for d in class_dirs:
        d_stat = d.stat()
        visited.discard((d_stat.st_dev, d_stat.st_ino))
        scanned[d.name] = _scan_images(str(d), visited)
    files = {name: [Path(path) for path, _ in entries] for name, entries in scanned.items()}
    extensions = "/".join(IMAGE_EXTENSIONS)
    if sum(len(f) for f in files.values()) == 0:
        loose = [p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
        seen = (
            f"found {len(loose)} image(s) directly in it but no class sub-folders"
            if loose
            else f"found no {extensions} files in its {len(class_dirs)} sub-folder(s)"
        )
        raise NoImagesError(
            f"Image folder '{root}' holds no usable images: {seen}. Expected one sub-folder per class holding "
            f"that class's images, e.g. '{root / 'cat' / '001.png'}' and '{root / 'dog' / '001.png'}'."
        )
    empty = [name for name, f in files.items() if not f]
    if empty:
        raise EmptyClassFolderError(
            f"Class folder(s) {quoted(empty)} in '{root}' hold no {extensions} files. Every sub-folder is a "
            "class and needs images; add images to them or remove the folders."
        )
    paths = [p for name in files for p in files[name]]
    labels = np.asarray([i for i, name in enumerate(files) for _ in files[name]], dtype=np.int64)
    cache = FolderCache.for_listing(str(root), [entry for name in scanned for entry in scanned[name]])

    stored = cache.load_headers()
    headers = [Header.from_json(h) for h in stored] if stored is not None and len(stored) == len(paths) else None
    if headers is None and image_size is None:
        # The preflight on its own: the default size is chosen from every file's size before anything is decoded.
        headers = parallel_map(read_header, paths, progress, f"checking {len(paths)} images")
        cache.save_headers([h.to_json() for h in headers])
    notes: list[str] = []
    if headers is not None:
        problems = {i: h.error for i, h in enumerate(headers) if h.error}
        if len(problems) == len(paths):  # nothing to decode: say so now
            _check_readable(root, paths, labels, list(files), problems, skip_corrupt)
        usable = [h for h in headers if not h.error]
        if image_size is None:
            image_size, how = default_image_size(usable)
            notes.append(f"images are resized to {image_size[0]}x{image_size[1]}: {how}; pass --image-size HxW "
                         "(image_size=(H, W) in Python) for another size")
        if color_mode is None:
            color_mode = "grayscale" if all(h.mode in GRAYSCALE_MODES for h in usable) else "rgb"
    assert image_size is not None  # given, or chosen from the headers just read

    found = cache.pixels(image_size, color_mode) if color_mode and headers is not None else None
    if found is None:
        found, headers, color_mode = _decode_into_cache(cache, paths, headers, image_size, color_mode, progress)
        notes.append(f"decoded once into the image cache {cache.directory}")
    else:
        notes.append(f"re-used the decoded images in the cache {cache.directory}")
    assert headers is not None and color_mode is not None  # known, or found while decoding
    problems = {i: h.error for i, h in enumerate(headers) if h.error}
    odd_exif = [f"'{paths[i].relative_to(root)}' ({h.note})" for i, h in enumerate(headers) if h.note and not h.error]
    if odd_exif:
        notes.append(f"{len(odd_exif)} image(s) are used without EXIF rotation: {listed(odd_exif, limit=5)}")
    pixels, meta = found
    problems.update({int(row): reason for row, reason in meta["failed"].items()})
    _check_readable(root, paths, labels, list(files), problems, skip_corrupt)

    keep = np.asarray([i for i in range(len(paths)) if i not in problems], dtype=np.int64)
    return Loaded(
        task="image",
        x=CachedImages(pixels, keep, meta["sha256"]),
        y=labels[keep],
        class_names=tuple(files),
        preprocessing=image_preprocessing(image_size, color_mode, pixel_max=255.0),
        skipped=tuple(str(paths[i]) for i in sorted(problems)),
        inputs=tuple(str(paths[i]) for i in keep),
        notes=tuple(notes),
    )


def _decode_into_cache(
    cache: FolderCache,
    paths: list[Path],
    headers: list[Header] | None,
    size: tuple[int, int],
    color_mode: str | None,
    progress: Any,
) -> tuple[tuple[np.ndarray, dict], list[Header], str]:
    """Decode every usable file once at `size` into a new cache entry: (pixels and meta, headers, colour mode).

    Without stored headers (a given size, a folder seen for the first time) each file is opened once, checked
    and decoded in the same pass, which is then the preflight. An undetected colour mode is decoded as RGB
    and narrowed to grayscale afterwards when every file turned out to be grayscale.
    """
    rows = list(range(len(paths))) if headers is None else [i for i, h in enumerate(headers) if not h.error]
    found_headers: list[Header] = list(headers) if headers is not None else [Header()] * len(paths)
    decode_mode = color_mode or "rgb"
    filled = []

    def fill(pixels: np.ndarray) -> dict[int, str]:
        filled.append(True)
        def decode_row(row: int) -> str:
            if headers is None:
                found_headers[row], decoded = read_and_decode(paths[row], size, decode_mode)
                if decoded is not None:
                    pixels[row] = decoded
                # The entry's meta lists every unusable file, so a process that re-uses it knows them too.
                return found_headers[row].error
            try:
                pixels[row] = decode_image(paths[row], size, decode_mode, headers[row].orientation)
                return ""
            except Exception as exc:  # any decoder failure makes the file unusable
                return short_reason(exc)

        what = "checking and decoding" if headers is None else "decoding"
        failures = parallel_map(decode_row, rows, progress, f"{what} {len(rows)} images to {size[0]}x{size[1]}")
        return {row: reason for row, reason in zip(rows, failures) if reason}

    found = cache.build_pixels(size, decode_mode, len(paths), fill)
    if headers is None and not filled:  # another process decoded it meanwhile: check the headers on their own
        found_headers = parallel_map(read_header, paths, progress, f"checking {len(paths)} images")
    failed = {int(row): reason for row, reason in found[1]["failed"].items()}
    found_headers = [Header(error=failed[i]) if i in failed else h for i, h in enumerate(found_headers)]
    if headers is None:
        cache.save_headers([h.to_json() for h in found_headers])
    if color_mode is None:
        usable = [h for h in found_headers if not h.error]
        color_mode = "grayscale" if usable and all(h.mode in GRAYSCALE_MODES for h in usable) else "rgb"
        if color_mode == "grayscale":  # gray decoded as RGB repeats one channel: keep that one
            rgb = found[0]

            def narrow(pixels: np.ndarray) -> dict[int, str]:
                pixels[:] = rgb[..., :1]
                return failed

            found = cache.build_pixels(size, "grayscale", len(paths), narrow)
            cache.remove(size, "rgb")
    return found, found_headers, color_mode


def _check_readable(root: Path, paths: list[Path], labels: np.ndarray, class_names: list[str],
                    problems: dict[int, str], skip_corrupt: bool) -> None:
    """Unusable files stop the load (or are skipped with `skip_corrupt`); a class left with none always does."""
    if not problems:
        return
    if not skip_corrupt:
        reasons = [f"'{paths[i].relative_to(root)}' ({problems[i]})" for i in sorted(problems)]
        raise CorruptImageError(
            f"{len(problems)} image file(s) in '{root}' could not be decoded: {listed(reasons)}. Expected readable "
            f"{'/'.join(IMAGE_EXTENSIONS)} images; replace or delete those files, or pass --skip-corrupt "
            "(skip_corrupt=True in Python) to leave them out."
        )
    kept = np.bincount(np.delete(labels, sorted(problems)), minlength=len(class_names))
    emptied = [name for name, n in zip(class_names, kept) if n == 0]
    if emptied:
        raise EmptyClassFolderError(
            f"Class folder(s) {quoted(emptied)} in '{root}' hold no readable images (all were skipped as "
            "corrupt). Add readable images to them or remove the folders."
        )


def image_preprocessing(size: tuple[int, int], color_mode: str, pixel_max: float) -> dict:
    return {
        "kind": "image",
        "image_size": [int(size[0]), int(size[1])],
        "color_mode": color_mode,
        "scale": 1.0 / float(pixel_max),
        "pixel_max": float(pixel_max),
    }


def load_images(paths: Sequence[Path | str], preprocessing: dict, progress: Any = None) -> np.ndarray:
    """Decode image files to the training size and colour mode; returns float32 NHWC in raw units.

    Raw units are those of the training data (0..``pixel_max``; 0..255 for models trained on image files),
    so ``load_images(paths, p) * p["scale"]`` is always the model input. Files are decoded exactly as the
    training files were (`decode_image`: EXIF orientation applied). Raises `DataNotFoundError` for missing
    files and `CorruptImageError` naming every file that cannot be decoded.
    """
    from automl.data.messages import require_kind

    require_kind(preprocessing, "image")
    height, width = (int(v) for v in preprocessing["image_size"])
    color_mode = preprocessing["color_mode"]
    pixel_max = float(preprocessing.get("pixel_max", 255.0))
    files = [Path(p) for p in paths]

    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise DataNotFoundError(f"Image file(s) not found: {quoted(missing)}. Check the paths.")
    channels = 1 if color_mode == "grayscale" else 3
    x = np.zeros((len(files), height, width, channels), dtype=np.float32)

    def decode_into(index: int) -> str:
        try:
            x[index] = decode_image(files[index], (height, width), color_mode)
            return ""
        except Exception as exc:  # PIL raises many types (OSError, SyntaxError, ValueError, ...)
            return f"{files[index]} ({short_reason(exc)})"

    corrupt = [c for c in parallel_map(decode_into, range(len(files)), progress, f"decoding {len(files)} images") if c]
    if corrupt:
        raise CorruptImageError(
            f"{len(corrupt)} image file(s) could not be decoded: {listed(corrupt)}. Expected readable "
            f"{'/'.join(IMAGE_EXTENSIONS)} images; replace or leave out those files."
        )
    if pixel_max != 255.0:  # bring 0..255 file pixels to the training data's units
        x *= np.float32(pixel_max / 255.0)
    return x


