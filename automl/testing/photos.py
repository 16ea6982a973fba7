"""Deterministic folders of photo-like images, for tests and benchmarks of image loading and training.

A user's folder of phone or camera photos cannot be downloaded in a test, so this writes a stand-in
with the same hazards: one sub-folder per class, where each picture is a large filled shape (the
class: ``circle``, ``square``, ...) of a random colour, position, scale and rotation on a smooth
colour-gradient background, with pixel noise and a few distractor blobs::

    from automl.testing.photos import write_photo_folder

    folder = write_photo_folder(tmp_path / "photos", per_class=40, exif_share=0.25, odd_formats=True)

What makes it photo-like rather than a tidy array dump:

* mixed sizes and orientations: the long side is ``long_side`` px, aspect ratios 4:3, 3:2, 16:9 and
  1:1, landscape and portrait;
* EXIF orientation: on about ``exif_share`` of the baseline JPEGs the *stored* pixels are rotated
  (tag 3) or turned sideways (tags 6 and 8), and only applying the tag (``ImageOps.exif_transpose``)
  gives the upright drawing -- as phones write them. A loader that ignores EXIF sees rotated pictures;
* ``odd_formats``: per class one CMYK JPEG, palette ("P") PNG, RGBA PNG, 16-bit grayscale ("I;16")
  PNG, grayscale JPEG and progressive JPEG, besides the ``per_class`` baseline JPEGs;
* ``junk``: hidden macOS litter (``.DS_Store``, AppleDouble ``._IMG_0000.jpg`` of garbage bytes),
  which a loader must skip by its hidden name.

``difficulty`` (0 easy .. 1 hard, default 0.5) makes shapes smaller, contrast lower, noise stronger,
backgrounds busier and distractors more numerous. At the default a small CNN at 64x64 input learns
the four default classes well above chance within minutes on a CPU, without it being trivial.

Everything is deterministic: the same arguments give byte-identical files (with the same Pillow
build), and each file depends only on (seed, class, variant, index), so large folders are written by
several worker processes. A hidden manifest ``.photos.json``, written last, records the arguments; calling
again with the same arguments on a complete folder returns at once without rewriting anything.

Also a command line::

    python -m automl.testing.photos OUT --per-class 250 [--difficulty 0.5] [--seed 0] [--long-side 640]
        [--exif-share 0.25] [--odd-formats] [--junk] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from statistics import NormalDist
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageChops, ImageDraw

__all__ = [
    "DEFAULT_CLASSES",
    "SHAPES",
    "VARIANTS",
    "MANIFEST_NAME",
    "PhotoFile",
    "PhotoFolder",
    "draw_photo",
    "write_photo_folder",
    "main",
]

DEFAULT_CLASSES: tuple[str, ...] = ("circle", "square", "triangle", "cross")
# Every drawable class; a class name must be one of these.
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "star", "pentagon", "hexagon", "ring")

# Bump whenever a drawing or file layout changes, so folders written by older code are regenerated.
GENERATOR_VERSION = 1
MANIFEST_NAME = ".photos.json"

# Variant -> (file name stem, extension). "jpeg" is the baseline photo; the others are odd_formats.
VARIANTS: dict[str, tuple[str, str]] = {
    "jpeg": ("IMG", ".jpg"),
    "cmyk_jpeg": ("cmyk", ".jpg"),
    "palette_png": ("palette", ".png"),
    "rgba_png": ("rgba", ".png"),
    "gray16_png": ("gray16", ".png"),
    "gray_jpeg": ("gray", ".jpg"),
    "progressive_jpeg": ("progressive", ".jpg"),
}
_VARIANT_CODES = {name: code for code, name in enumerate(VARIANTS)}
_JUNK_CODE = 1000

# (long, short) aspect ratios of real camera and phone exports, and how often each is drawn.
_ASPECTS = ((4, 3), (3, 2), (16, 9), (1, 1))
_ASPECT_WEIGHTS = (0.4, 0.2, 0.25, 0.15)
_PORTRAIT_SHARE = 0.45
_ORIENTATIONS = (6, 8, 3)  # 6 (held upright, home button right) is the most common on phones
_ORIENTATION_WEIGHTS = (0.5, 0.25, 0.25)
_EXIF_ORIENTATION_TAG = 0x0112
# What to do to the upright drawing before storing it so that the tag undoes it: PIL's exif_transpose
# applies ROTATE_180 for 3, ROTATE_270 for 6 and ROTATE_90 for 8; these are their inverses.
_STORE_TRANSPOSE = {
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}
_LUMA = np.array([0.299, 0.587, 0.114])
_SUPERSAMPLE = 2  # shape masks are drawn at 2x and reduced, for anti-aliased edges like a lens gives
# Below this many files starting worker processes costs more than it saves.
_PARALLEL_MIN_FILES = 100
# The folder holding the ``automl`` package, put on the workers' path so they import this same code.
_PACKAGE_PARENT = Path(__file__).resolve().parents[2]


class PhotoFile(NamedTuple):
    """One image written: its path relative to the root (POSIX), class, EXIF orientation, stored size."""

    path: str
    class_name: str
    orientation: int | None  # 3, 6 or 8 when tagged; None when the stored pixels are upright
    size: tuple[int, int]  # (width, height) of the stored pixels, before applying the orientation


@dataclass(frozen=True)
class PhotoFolder:
    """A generated folder: where it is, its classes (sorted, as folder loaders list them), its images.

    ``files`` lists the images only (baseline and odd formats); ``junk_files`` the hidden litter.
    ``bytes_on_disk`` counts both (not the manifest). ``reused`` is True when an existing complete
    generation was returned without writing anything.
    """

    root: Path
    class_names: tuple[str, ...]
    files: tuple[PhotoFile, ...]
    bytes_on_disk: int
    junk_files: tuple[str, ...] = ()
    reused: bool = False


@dataclass(frozen=True)
class _Settings:
    """What every file's content depends on besides (class, variant, index); sent to pool workers."""

    seed: int
    long_side: int
    difficulty: float
    exif_share: float
    quality: int


# --------------------------------------------------------------------------------------------------
# Drawing


def _file_rng(seed: int, class_name: str, code: int, index: int) -> np.random.Generator:
    # crc32 (not hash(), which is salted per process) keys the class, so streams agree across workers
    # and adding a class leaves the others' files unchanged.
    key = [seed, zlib.crc32(class_name.encode()), code, index]
    return np.random.default_rng(np.random.SeedSequence(key))


def _lerp(easy: float, hard: float, difficulty: float) -> float:
    return easy + (hard - easy) * difficulty


def _unit_outline(shape: str) -> list[np.ndarray]:
    """The shape as closed polygons with circumradius 1; the first is filled, any further ones are holes."""

    def regular(n: int, radius: float = 1.0, start: float = math.pi / 2) -> np.ndarray:
        angles = start + 2 * math.pi * np.arange(n) / n
        return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)

    if shape == "circle":
        return [regular(64)]
    if shape == "ring":
        return [regular(64), regular(64, radius=0.55)]
    if shape == "square":
        return [regular(4, start=math.pi / 4)]
    if shape == "triangle":
        return [regular(3)]
    if shape == "pentagon":
        return [regular(5)]
    if shape == "hexagon":
        return [regular(6)]
    if shape == "star":
        points = regular(10)
        points[1::2] *= 0.45
        return [points]
    if shape == "cross":
        arm, half = 1.0, 0.3  # arm length and half-width before scaling to circumradius 1
        a, w = arm, half
        outline = [(-w, a), (w, a), (w, w), (a, w), (a, -w), (w, -w),
                   (w, -a), (-w, -a), (-w, -w), (-a, -w), (-a, w), (-w, w)]
        return [np.array(outline) / math.hypot(a, w)]
    raise ValueError(f"unknown shape {shape!r}; choose from {', '.join(SHAPES)}")


def _smooth_field(rng: np.random.Generator, base: np.ndarray, spread: float, grid: int, size: tuple[int, int]):
    """A smooth colour field: a tiny grid of colours around ``base`` (0..1 RGB) upscaled bicubically."""
    colours = np.clip(base + rng.normal(0.0, spread, (grid, grid, 3)), 0.0, 1.0)
    tiny = Image.fromarray(np.round(colours * 255).astype(np.uint8), "RGB")
    return tiny.resize(size, Image.Resampling.BICUBIC), colours


def _contrasting_colour(rng: np.random.Generator, background: np.ndarray, min_contrast: float) -> np.ndarray:
    """A random colour whose luminance differs from every background grid colour by ``min_contrast``
    (or, when the background spans too much for that, the best of a few tries)."""
    background_luma = background.reshape(-1, 3) @ _LUMA
    best, best_contrast = None, -1.0
    for _ in range(24):
        colour = rng.uniform(0.0, 1.0, 3)
        contrast = float(np.min(np.abs(colour @ _LUMA - background_luma)))
        if contrast >= min_contrast:
            return colour
        if contrast > best_contrast:
            best, best_contrast = colour, contrast
    assert best is not None  # the first try beats -1 already
    return best


@lru_cache(maxsize=64)
def _noise_table(sigma_levels: float) -> list[int]:
    """Byte -> Gaussian noise value (offset by 128) through the inverse normal CDF: Gaussian noise from
    uniform random bytes at a fraction of the cost of drawing normal floats (the noise dominated)."""
    normal = NormalDist(0.0, sigma_levels)
    values = [min(255, max(0, round(128 + normal.inv_cdf((i + 0.5) / 256)))) for i in range(256)]
    return values * 3  # one table per RGB band


def _draw_shape(rng, image: Image.Image, shape: str, colour: np.ndarray, difficulty: float) -> None:
    """Paste a filled, shaded, anti-aliased ``shape`` at a random place, scale and rotation."""
    width, height = image.size
    short = min(width, height)
    # Circumscribed diameter as a share of the short side: 40-60 % when easy, 25-40 % when hard.
    diameter = rng.uniform(_lerp(0.40, 0.25, difficulty), _lerp(0.60, 0.40, difficulty)) * short
    radius = diameter / 2
    centre = np.array([rng.uniform(radius + 1, width - radius - 1), rng.uniform(radius + 1, height - radius - 1)])
    angle = rng.uniform(0.0, 2 * math.pi)
    squash = rng.uniform(0.0, 0.12)  # a mild perspective-like stretch, kept inside the circumcircle
    stretch = np.array([1 + squash, 1 - squash]) / (1 + squash)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])

    left, top = max(0, int(centre[0] - radius) - 1), max(0, int(centre[1] - radius) - 1)
    right, bottom = min(width, int(centre[0] + radius) + 2), min(height, int(centre[1] + radius) + 2)
    box_size = (right - left, bottom - top)
    mask = Image.new("L", (box_size[0] * _SUPERSAMPLE, box_size[1] * _SUPERSAMPLE), 0)
    pen = ImageDraw.Draw(mask)
    for number, outline in enumerate(_unit_outline(shape)):
        points = (outline * stretch) @ rotation.T * radius + centre - (left, top)
        pen.polygon([tuple(p) for p in points * _SUPERSAMPLE], fill=0 if number else 255)
    mask = mask.reduce(_SUPERSAMPLE)
    # Soft shading across the shape, as light falls on a real object.
    fill, _ = _smooth_field(rng, colour, 0.06, 2, box_size)
    image.paste(fill, (left, top), mask)


def _draw_blobs(rng, image: Image.Image, count: int, difficulty: float) -> None:
    """Random ellipses of random colours: clutter a model must learn to ignore."""
    width, height = image.size
    short = min(width, height)
    pen = ImageDraw.Draw(image)
    for _ in range(count):
        rx, ry = rng.uniform(0.03, _lerp(0.08, 0.12, difficulty), 2) * short  # below the smallest shape
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        pen.ellipse((x - rx, y - ry, x + rx, y + ry), fill=colour)


def draw_photo(
    class_name: str,
    index: int,
    *,
    seed: int = 0,
    long_side: int = 640,
    difficulty: float = 0.5,
    exif_share: float = 0.25,
    variant: str = "jpeg",
) -> tuple[Image.Image, int | None]:
    """The upright RGB drawing of one file and the EXIF orientation its file gets (None: untagged).

    This is exactly what :func:`write_photo_folder` encodes (after turning the pixels for a tag), so a
    test can check a written file against the drawing. Only baseline ``"jpeg"`` files are tagged.
    """
    if class_name not in SHAPES:
        raise ValueError(f"unknown class {class_name!r}; choose from {', '.join(SHAPES)}")
    rng = _file_rng(seed, class_name, _VARIANT_CODES[variant], index)

    # Layout and orientation first, always consuming the same draws, so that exif_share changes which
    # files are tagged but never what any file depicts.
    long_ratio, short_ratio = _ASPECTS[rng.choice(len(_ASPECTS), p=_ASPECT_WEIGHTS)]
    short_side = round(long_side * short_ratio / long_ratio)
    portrait = rng.random() < _PORTRAIT_SHARE
    size = (short_side, long_side) if portrait else (long_side, short_side)
    tagged = rng.random() < exif_share
    orientation: int | None = int(_ORIENTATIONS[rng.choice(len(_ORIENTATIONS), p=_ORIENTATION_WEIGHTS)])
    if not (tagged and variant == "jpeg"):
        orientation = None

    d = difficulty
    base = rng.uniform(0.1, 0.9, 3)
    image, background = _smooth_field(rng, base, _lerp(0.10, 0.25, d), int(rng.integers(2, 5)), size)
    colour = _contrasting_colour(rng, background, _lerp(0.35, 0.08, d))
    blobs = int(rng.poisson(_lerp(0.5, 4.0, d)))
    on_top = int(rng.binomial(blobs, 0.5 * d))  # at higher difficulty some clutter overlaps the shape
    _draw_blobs(rng, image, blobs - on_top, d)
    _draw_shape(rng, image, class_name, colour, d)
    _draw_blobs(rng, image, on_top, d)

    noise = Image.frombytes("RGB", size, rng.bytes(size[0] * size[1] * 3)).point(_noise_table(_lerp(3.0, 15.0, d)))
    return ImageChops.add(image, noise, 1.0, -128), orientation


# --------------------------------------------------------------------------------------------------
# Files


def _encode(image: Image.Image, variant: str, orientation: int | None, quality: int, path: Path) -> tuple[int, int]:
    """Write one drawing as ``variant``; returns the stored (width, height)."""
    if variant == "jpeg":
        if orientation is None:
            image.save(path, "JPEG", quality=quality)
        else:
            exif = Image.Exif()
            exif[_EXIF_ORIENTATION_TAG] = orientation
            image = image.transpose(_STORE_TRANSPOSE[orientation])
            image.save(path, "JPEG", quality=quality, exif=exif)
    elif variant == "cmyk_jpeg":
        image = image.convert("CMYK")
        image.save(path, "JPEG", quality=quality)
    elif variant == "palette_png":
        image = image.quantize(64, method=Image.Quantize.FASTOCTREE)  # median cut takes ~0.6 s here
        image.save(path, "PNG")
    elif variant == "rgba_png":
        alpha = np.linspace(200, 255, image.size[0], dtype=np.float32)  # partly transparent on the left
        image = image.convert("RGBA")
        image.putalpha(Image.fromarray(np.broadcast_to(alpha.round().astype(np.uint8), image.size[::-1]).copy()))
        image.save(path, "PNG")
    elif variant == "gray16_png":
        gray = np.asarray(image.convert("L"), dtype=np.uint16) * 257  # full 16-bit range, as scanners write
        image = Image.fromarray(gray)  # uint16 -> mode "I;16"
        image.save(path, "PNG")
    elif variant == "gray_jpeg":
        image = image.convert("L")
        image.save(path, "JPEG", quality=quality)
    elif variant == "progressive_jpeg":
        image.save(path, "JPEG", quality=quality, progressive=True, optimize=True)
    else:
        raise ValueError(f"unknown variant {variant!r}")
    return image.size


def _write_file(settings: _Settings, class_name: str, variant: str, index: int, relative: str, root: Path):
    """Draw and write one file; returns its record and its size in bytes."""
    image, orientation = draw_photo(
        class_name,
        index,
        seed=settings.seed,
        long_side=settings.long_side,
        difficulty=settings.difficulty,
        exif_share=settings.exif_share,
        variant=variant,
    )
    path = root / relative
    size = _encode(image, variant, orientation, settings.quality, path)
    return PhotoFile(relative, class_name, orientation, size), path.stat().st_size


def _junk(seed: int, class_names: Sequence[str], file_names: dict[str, list[str]]) -> dict[str, bytes]:
    """Hidden macOS litter: a Finder ``.DS_Store`` per folder and AppleDouble ``._`` twins of two images.

    The bytes start with the real magic numbers and continue as garbage, so a loader that does not
    skip hidden names fails on them (or silently trains on a corrupt "image").
    """
    junk: dict[str, bytes] = {}
    for folder in ("", *class_names):
        rng = _file_rng(seed, folder, _JUNK_CODE, 0)
        junk[f"{folder}/.DS_Store".lstrip("/")] = b"\x00\x00\x00\x01Bud1" + rng.bytes(6148 - 8)
        for name in file_names.get(folder, [])[:2]:
            junk[f"{folder}/._{name}"] = b"\x00\x05\x16\x07\x00\x02\x00\x00" + rng.bytes(4096 - 8)
    return junk


def _plan(per_class: int, class_names: Sequence[str], odd_formats: bool) -> list[tuple[str, str, int, str]]:
    """Every image to write, as (class, variant, index, relative path)."""
    digits = max(4, len(str(per_class - 1)))
    plan = []
    for class_name in class_names:
        for index in range(per_class):
            plan.append((class_name, "jpeg", index, f"{class_name}/IMG_{index:0{digits}d}.jpg"))
        if odd_formats:
            for variant, (stem, extension) in VARIANTS.items():
                if variant != "jpeg":
                    plan.append((class_name, variant, 0, f"{class_name}/{stem}_0{extension}"))
    return plan


def _write_serially(job: dict, shard: int = 0, shards: int = 1) -> list[tuple[PhotoFile, int]]:
    """Write every ``shards``-th file of the job's plan, starting at ``shard``."""
    settings = _Settings(**job["settings"])
    plan = _plan(job["per_class"], job["classes"], job["odd_formats"])[shard::shards]
    root = Path(job["root"])
    return [_write_file(settings, c, v, i, relative, root) for c, v, i, relative in plan]


def _worker_main() -> None:
    """Entry point of a worker process: its job as JSON in argv[1], its records as JSON on stdout."""
    job = json.loads(sys.argv[1])
    written = _write_serially(job, job["shard"], job["shards"])
    json.dump([[list(photo), nbytes] for photo, nbytes in written], sys.stdout)


def _write_in_processes(job: dict, workers: int) -> list[tuple[PhotoFile, int]]:
    """Write the job's files with ``workers`` Python processes, each taking every workers-th file.

    Plain subprocesses rather than multiprocessing: fork beside TensorFlow's threads can deadlock, and
    spawn re-runs the caller's main script, which would make every caller need a __main__ guard.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PACKAGE_PARENT), env.get("PYTHONPATH")) if p)
    code = "from automl.testing.photos import _worker_main; _worker_main()"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, json.dumps({**job, "shard": shard, "shards": workers})],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        for shard in range(workers)
    ]
    written: list[tuple[PhotoFile, int]] = []
    try:
        for process in processes:
            out, err = process.communicate()
            if process.returncode != 0:
                raise RuntimeError(f"a photo-writing worker failed (exit {process.returncode}):\n{err.decode()[-2000:]}")
            for (path, class_name, orientation, size), nbytes in json.loads(out):
                written.append((PhotoFile(path, class_name, orientation, tuple(size)), nbytes))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    return written


def _read_manifest(root: Path) -> dict | None:
    try:
        return json.loads((root / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return None


def _reusable(root: Path, arguments: dict) -> PhotoFolder | None:
    """The folder's generation when its manifest records exactly ``arguments`` and every file is there
    with its recorded size; None otherwise."""
    manifest = _read_manifest(root)
    if manifest is None or manifest.get("arguments") != arguments:
        return None
    try:
        entries = [(PhotoFile(p, c, o, (w, h)), n) for p, c, o, (w, h), n in manifest["files"]]
        junk = [(p, n) for p, n in manifest["junk"]]
    except (KeyError, TypeError, ValueError):
        return None
    for relative, nbytes in [(f.path, n) for f, n in entries] + junk:
        try:
            if (root / relative).stat().st_size != nbytes:
                return None
        except OSError:
            return None
    return PhotoFolder(
        root=root,
        class_names=tuple(manifest["class_names"]),
        files=tuple(f for f, _ in entries),
        bytes_on_disk=int(manifest["bytes_on_disk"]),
        junk_files=tuple(p for p, _ in junk),
        reused=True,
    )


def _clear_old_generation(root: Path) -> None:
    """Make way at ``root``: remove an earlier generation (only the files its manifest lists) or an
    empty folder. Anything else there is somebody's data, so refuse before deleting anything."""
    if not root.exists():
        return
    if not root.is_dir():
        raise FileExistsError(f"{root} exists and is not a folder")
    manifest = _read_manifest(root)
    ours = {MANIFEST_NAME}
    if manifest is not None:
        ours |= {entry[0] for entry in manifest.get("files", [])} | {entry[0] for entry in manifest.get("junk", [])}
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir()}
    foreign = sorted(present - ours)
    if foreign:
        raise FileExistsError(
            f"{root} holds files this generator did not write (e.g. {foreign[0]!r}); "
            "choose an empty or new folder, or remove them"
        )
    for relative in present:
        (root / relative).unlink()
    for folder in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        folder.rmdir()
    root.rmdir()


def _remove_stale_partials(root: Path) -> None:
    """Delete half-written generations of ``root`` left by processes that are gone (killed, crashed)."""
    for partial in root.parent.glob(f".{root.name}.partial-*"):
        try:
            pid = int(partial.name.rsplit("-", 1)[1])
            os.kill(pid, 0)  # signal 0: only asks whether the process exists
        except (ValueError, ProcessLookupError):
            shutil.rmtree(partial, ignore_errors=True)
        except PermissionError:
            pass  # alive, somebody else's


def write_photo_folder(
    root: Path | str,
    *,
    per_class: int = 50,
    classes: Sequence[str] = DEFAULT_CLASSES,
    seed: int = 0,
    long_side: int = 640,
    difficulty: float = 0.5,
    exif_share: float = 0.25,
    odd_formats: bool = False,
    junk: bool = False,
    quality: int = 88,
    workers: int | None = None,
) -> PhotoFolder:
    """Write (or reuse) a folder of photo-like images, one sub-folder per class, and describe it.

    root          the folder to create; it must not exist, be empty, or hold an earlier generation
                  (which is replaced). Anything else in it makes this raise FileExistsError.
    per_class     baseline JPEGs per class (``IMG_0000.jpg`` ...).
    classes       class names, each one of :data:`SHAPES`; default the four of :data:`DEFAULT_CLASSES`.
    seed          with the other arguments, fixes every byte written.
    long_side     long side of every image in px; the short side follows from a drawn aspect ratio.
    difficulty    0 (easy) .. 1 (hard): smaller shapes, lower contrast, more noise and clutter.
    exif_share    share of baseline JPEGs stored turned, with an EXIF orientation (3, 6, 8) undoing it.
    odd_formats   also write, per class, one CMYK JPEG, P PNG, RGBA PNG, I;16 PNG, L JPEG, progressive JPEG.
    junk          also write hidden ``.DS_Store`` and AppleDouble ``._*.jpg`` garbage files.
    quality       JPEG quality (cameras export at about 85-92).
    workers       processes to write with; None: all cores for large folders, one for small ones.
                  The files do not depend on it.

    The generation goes to a hidden sibling folder and is renamed to ``root`` only once complete, with
    its manifest, so an interrupted run never leaves something that looks finished. Parallel runs
    start plain ``python`` worker processes (no multiprocessing), so callers need no ``__main__``
    guard and may have TensorFlow loaded.
    """
    root = Path(root)
    class_names = tuple(classes)
    if not class_names or len(set(class_names)) != len(class_names):
        raise ValueError(f"classes must be distinct and at least one, got {class_names}")
    unknown = [c for c in class_names if c not in SHAPES]
    if unknown:
        raise ValueError(f"unknown classes {unknown}; each class must be one of {', '.join(SHAPES)}")
    if per_class < 1:
        raise ValueError(f"per_class must be at least 1, got {per_class}")
    if long_side < 32:
        raise ValueError(f"long_side must be at least 32 px, got {long_side}")
    if not 0.0 <= difficulty <= 1.0 or not 0.0 <= exif_share <= 1.0:
        raise ValueError(f"difficulty and exif_share must lie in [0, 1], got {difficulty} and {exif_share}")
    if not 1 <= quality <= 100 or seed < 0:
        raise ValueError(f"quality must lie in 1..100 and seed be >= 0, got {quality} and {seed}")

    arguments = {
        "generator_version": GENERATOR_VERSION,
        "per_class": int(per_class),
        "classes": list(class_names),
        "seed": int(seed),
        "long_side": int(long_side),
        "difficulty": float(difficulty),
        "exif_share": float(exif_share),
        "odd_formats": bool(odd_formats),
        "junk": bool(junk),
        "quality": int(quality),
    }
    reused = _reusable(root, arguments)
    if reused is not None:
        return reused

    root.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(root)
    partial = root.parent / f".{root.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    for class_name in class_names:
        (partial / class_name).mkdir(parents=True)

    settings = _Settings(int(seed), int(long_side), float(difficulty), float(exif_share), int(quality))
    job = {
        "settings": vars(settings),
        "per_class": int(per_class),
        "classes": list(class_names),
        "odd_formats": bool(odd_formats),
        "root": str(partial),
    }
    file_count = len(class_names) * (per_class + (len(VARIANTS) - 1 if odd_formats else 0))
    if workers is None:
        workers = (os.cpu_count() or 1) if file_count >= _PARALLEL_MIN_FILES else 1
    workers = max(1, min(workers, file_count))
    written = _write_serially(job) if workers == 1 else _write_in_processes(job, workers)
    # Sorted before the junk picks its AppleDouble twins, so those do not depend on the worker count.
    written.sort(key=lambda entry: entry[0].path)

    junk_sizes: list[tuple[str, int]] = []
    if junk:
        names: dict[str, list[str]] = {}
        for photo, _ in written:
            folder, name = photo.path.split("/")
            names.setdefault(folder, []).append(name)
        for relative, content in _junk(int(seed), class_names, names).items():
            (partial / relative).write_bytes(content)
            junk_sizes.append((relative, len(content)))

    bytes_on_disk = sum(n for _, n in written) + sum(n for _, n in junk_sizes)
    manifest = {
        "arguments": arguments,
        "class_names": sorted(class_names),
        "files": [[f.path, f.class_name, f.orientation, list(f.size), n] for f, n in written],
        "junk": [[p, n] for p, n in junk_sizes],
        "bytes_on_disk": bytes_on_disk,
    }
    (partial / MANIFEST_NAME).write_text(json.dumps(manifest, separators=(",", ":")))  # last: marks it complete

    # Another process may have finished the same generation meanwhile; then keep theirs.
    done = _reusable(root, arguments)
    if done is not None:
        shutil.rmtree(partial, ignore_errors=True)
        return done
    try:
        _clear_old_generation(root)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)  # refused: leave no hidden copy of the generation behind
        raise
    os.replace(partial, root)
    return PhotoFolder(
        root=root,
        class_names=tuple(sorted(class_names)),
        files=tuple(f for f, _ in written),
        bytes_on_disk=bytes_on_disk,
        junk_files=tuple(p for p, _ in junk_sizes),
    )


# --------------------------------------------------------------------------------------------------
# Command line


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m automl.testing.photos OUT --per-class N ...``: write a folder and say what was written."""
    parser = argparse.ArgumentParser(
        prog="python -m automl.testing.photos",
        description="Write a deterministic folder of photo-like images, one sub-folder per class.",
    )
    parser.add_argument("out", type=Path, help="folder to create (or reuse, when it holds this generation)")
    parser.add_argument("--per-class", type=int, required=True, help="baseline JPEGs per class")
    parser.add_argument("--classes", default=",".join(DEFAULT_CLASSES),
                        help=f"comma-separated, from: {','.join(SHAPES)} (default: %(default)s)")
    parser.add_argument("--difficulty", type=float, default=0.5, help="0 easy .. 1 hard (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    parser.add_argument("--long-side", type=int, default=640, help="px (default: %(default)s)")
    parser.add_argument("--exif-share", type=float, default=0.25,
                        help="share of JPEGs stored turned with an EXIF orientation (default: %(default)s)")
    parser.add_argument("--quality", type=int, default=88, help="JPEG quality (default: %(default)s)")
    parser.add_argument("--odd-formats", action="store_true",
                        help="also CMYK/grayscale/progressive JPEGs and palette/RGBA/16-bit PNGs per class")
    parser.add_argument("--junk", action="store_true", help="also hidden .DS_Store and ._* AppleDouble files")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    try:
        folder = write_photo_folder(
            args.out,
            per_class=args.per_class,
            classes=[c.strip() for c in args.classes.split(",") if c.strip()],
            seed=args.seed,
            long_side=args.long_side,
            difficulty=args.difficulty,
            exif_share=args.exif_share,
            odd_formats=args.odd_formats,
            junk=args.junk,
            quality=args.quality,
            workers=args.workers,
        )
    except (ValueError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - started
    tagged = sum(f.orientation is not None for f in folder.files)
    verb = "reused" if folder.reused else "wrote"
    print(
        f"{verb} {len(folder.files)} images ({tagged} EXIF-rotated, {len(folder.junk_files)} junk files), "
        f"{folder.bytes_on_disk / 1e6:.1f} MB in {folder.root} in {seconds:.1f} s"
        + ("" if folder.reused else f" ({len(folder.files) / seconds:.0f} files/s)")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
