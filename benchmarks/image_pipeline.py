"""Reading an image folder: automl's first load against Keras' loader, and automl's cache hit.

On one folder of photo-like 640-px JPEGs (``automl.testing.photos``, 4 classes, default 2,000 images,
written once under ``benchmarks/.work/photos_N`` and re-used) and one target size (default 64x64), side by
side in one run, every measurement in its own fresh Python process:

0. one untimed read of every file's bytes, so the OS page cache is as warm for both sides;
1. then, ``--repeats`` times (default 2, i.e. A B A B), and each side's best run is kept:

   * (A) automl's first load: ``automl.data.load_dataset(folder, image_size=(64, 64))`` with a fresh, empty
     ``AUTOML_CACHE_DIR``: the listing, the preflight of every header, the decode of every file at the target
     size (threads, one per core) into the uint8 memory-mapped cache, and the split;
   * (B) ``keras.utils.image_dataset_from_directory(folder, image_size=(64, 64), batch_size=64,
     shuffle=False)`` iterated once to its end (TensorFlow's tf.data uses every core by default), timed from
     the call (its file listing included) with the TensorFlow import excluded;
   * (C) automl's cache hit, right after that repeat's (A), in a new process as a later search or a worker
     is: the same ``load_dataset`` on the now-warm cache, plus the time to the first training batch from the
     trainer's own pipeline (``automl.trainer.pipelines.get(dataset, "train", 64, 0)``, one batch); the
     TensorFlow import is excluded here too (a worker has it already).

Keys:

* ``image_decode_speedup``: automl's images/s ÷ Keras' images/s (best runs), goal ≥ 1.5;
* ``image_cache_hit_share``: (C)'s seconds (load + first batch) ÷ (A)'s seconds, goal ≤ 0.10.

Each timer starts after a ``gc.collect()`` (a full collection of TensorFlow's large heap falling due inside a
sub-second measurement would add ~0.4 s to it). The raw timings of every run (automl's per stage), both sides'
images/s, the thread and core counts, and whether (C) really re-used the cache are stored beside them.

Keras decodes every file at full size and then resizes, and does not apply EXIF orientation (automl does, and
decodes JPEGs straight at a reduced DCT scale), so the two do not produce identical pixels; they produce the
same number of images at the same size. (D), the scaled decode of every file alone on the same threads, is
stored beside the speedup as ``floor_speedup``: the ceiling of (A) on this machine. The scaled decode saves
the inverse DCT, not the entropy decoding:
on these noisy quality-88 photos Pillow's 1/8-scale decode measured ~1.8 ms an image against ~2.7 ms for a
full decode, one core.

    python benchmarks/image_pipeline.py [--images 2000] [--image-size 64x64] [--repeats 2] [--quick]

``--quick``: 200 images, 1 repeat (a smoke run into results-quick.json, not a result).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from common import ENV, HERE, result, store

CLASSES = 4
LONG_SIDE = 640
BATCH_SIZE = 64
MARK = "IMAGE_PIPELINE_RESULT "


def parse_size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"an image size looks like 64x64 (HEIGHTxWIDTH), got {text!r}") from None
    return height, width


# --- the measured sides, each run in a fresh process (--side) ---------------------------------------------
# Each side calls gc.collect() just before its timer starts: with TensorFlow and Keras imported the heap holds
# ~450,000 objects, and a full collection that happens to fall due inside a sub-second measurement adds
# ~0.4 s to it (measured: the cache hit's header parsing went from 0.03 to 0.5 s).
class StageTimes:
    """A `progress` for load_dataset that records how long each of its stages (preflight, decode) took."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, description: str, total: int):
        started = time.perf_counter()
        try:
            yield self
        finally:
            self.seconds[description] = round(time.perf_counter() - started, 4)

    def advance(self, count: int = 1) -> None:
        pass


def side_automl(folder: str, size: tuple[int, int]) -> dict:
    import_started = time.perf_counter()
    from automl.data import load_dataset

    imported = time.perf_counter()
    stages = StageTimes()
    gc.collect()
    started = time.perf_counter()
    dataset = load_dataset(folder, image_size=size, seed=0, progress=stages)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "images": len(dataset.x_train) + len(dataset.x_val) + len(dataset.x_test),
            "import_seconds": imported - import_started, "x_train_type": type(dataset.x_train).__name__,
            "stages": stages.seconds, "shape": list(dataset.input_shape),
            "tensorflow_imported": "tensorflow" in sys.modules, "decode_threads": os.cpu_count(),
            "notes": list(dataset.notes)}


def side_keras(folder: str, size: tuple[int, int]) -> dict:
    import_started = time.perf_counter()
    import keras
    import tensorflow as tf

    imported = time.perf_counter()
    gc.collect()
    started = time.perf_counter()
    ds = keras.utils.image_dataset_from_directory(folder, image_size=size, batch_size=BATCH_SIZE, shuffle=False,
                                                  verbose=False)
    images = 0
    for x, _ in ds:
        images += int(x.shape[0])
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "images": images, "import_seconds": imported - import_started,
            "shape": list(x.shape[1:]), "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "tf_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            "note": "0 threads = TensorFlow's default, every core"}


def side_hit(folder: str, size: tuple[int, int]) -> dict:
    import_started = time.perf_counter()
    import tensorflow  # noqa: F401 - a worker has imported it before it loads its data

    from automl.data import load_dataset
    from automl.trainer import pipelines, quiet_tensorflow

    quiet_tensorflow()
    imported = time.perf_counter()
    gc.collect()
    started = time.perf_counter()
    dataset = load_dataset(folder, image_size=size, seed=0)
    loaded = time.perf_counter()
    batch = next(iter(pipelines.get(dataset, "train", BATCH_SIZE, 0)))
    first_batch = time.perf_counter()
    hit = any("re-used" in note for note in dataset.notes)
    return {"seconds": first_batch - started, "load_seconds": loaded - started,
            "first_batch_seconds": first_batch - loaded, "import_seconds": imported - import_started,
            "images": len(dataset.x_train) + len(dataset.x_val) + len(dataset.x_test), "cache_hit": hit,
            "x_train_type": type(dataset.x_train).__name__, "batch_shape": list(batch[0].shape),
            "notes": list(dataset.notes)}


def side_floor(folder: str, size: tuple[int, int]) -> dict:
    """(D) The floor under (A): Pillow's reduced-scale JPEG decode of every file alone, on the same threads, at
    the scale automl picks, with nothing else (no listing, header check, EXIF, mode conversion, resize or
    cache). No loader built on libjpeg-turbo's scaled decode can be faster than this."""
    import math
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    from automl.data.images import DCT_SCALE_MARGIN, image_files, usable_cores

    paths = image_files(folder)
    wanted = (math.ceil(size[1] * DCT_SCALE_MARGIN), math.ceil(size[0] * DCT_SCALE_MARGIN))

    def decode(path) -> int:
        with Image.open(path) as img:
            img.draft(None, wanted)
            img.load()
            return img.size[0]

    gc.collect()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=usable_cores()) as pool:
        decoded = sum(1 for _ in pool.map(decode, paths, chunksize=32))
    return {"seconds": time.perf_counter() - started, "images": decoded, "threads": usable_cores()}


SIDES = {"automl": side_automl, "keras": side_keras, "hit": side_hit, "floor": side_floor}


def measure(side: str, folder: Path, size: tuple[int, int], cache_dir: Path) -> dict:
    """Run one side in a fresh process; its result, or the reason it failed."""
    command = [sys.executable, str(Path(__file__).resolve()), "--side", side, "--folder", str(folder.resolve()),
               "--image-size", f"{size[0]}x{size[1]}"]
    proc = subprocess.run(command, env={**ENV, "AUTOML_CACHE_DIR": str(cache_dir)}, capture_output=True, text=True,
                          cwd=HERE, check=False)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARK):
            found = json.loads(line[len(MARK):])
            found["side"] = side
            return found
    raise RuntimeError(f"--side {side} exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")


# --- the comparison --------------------------------------------------------------------------------------
def warm_read(folder: Path) -> tuple[int, int, float]:
    """Read every file under `folder` once (files, bytes, seconds)."""
    started, files, size = time.perf_counter(), 0, 0
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            size += len(path.read_bytes())
            files += 1
    return files, size, time.perf_counter() - started


def photo_folder(work: Path, images: int) -> tuple[Path, int]:
    from automl.testing.photos import write_photo_folder

    per_class = -(-images // CLASSES)
    started = time.perf_counter()
    folder = write_photo_folder(work / f"photos_{per_class * CLASSES}", per_class=per_class, long_side=LONG_SIDE)
    if time.perf_counter() - started > 5:
        print(f"wrote {len(folder.files)} photos to {folder.root} in {time.perf_counter() - started:.0f} s", flush=True)
    return folder.root, len(folder.files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, help="images in the folder [default: 2000]")
    parser.add_argument("--image-size", type=parse_size, default=(64, 64), help="HEIGHTxWIDTH [default: 64x64]")
    parser.add_argument("--repeats", type=int, help="A B (C) rounds; each side's best counts [default: 2]")
    parser.add_argument("--work-dir", type=Path, default=HERE / ".work",
                        help="photo folders (kept, re-used) and caches (removed) [default: benchmarks/.work]")
    parser.add_argument("--quick", action="store_true", help="200 images, 1 repeat (a smoke run)")
    parser.add_argument("--side", choices=list(SIDES), help=argparse.SUPPRESS)  # one measurement, in a subprocess
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        print(MARK + json.dumps(SIDES[args.side](args.folder, args.image_size)), flush=True)
        return
    images = args.images or (200 if args.quick else 2000)
    repeats = args.repeats or (1 if args.quick else 2)
    if images < 8 * CLASSES or repeats < 1:
        parser.error(f"--images must be at least {8 * CLASSES} and --repeats at least 1")
    size = args.image_size
    command = "python benchmarks/image_pipeline.py" + (" --quick" if args.quick else "")
    if args.images or not args.quick:
        command += f" --images {images}"
    if size != (64, 64) or not args.quick:
        command += f" --image-size {size[0]}x{size[1]}"
    if args.repeats or not args.quick:
        command += f" --repeats {repeats}"

    folder, count = photo_folder(args.work_dir, images)
    _, size_bytes, warm_seconds = warm_read(folder)
    print(f"{count} photos in {folder} ({size_bytes / 1e6:.0f} MB), read once untimed in {warm_seconds:.1f} s",
          flush=True)
    scratch = args.work_dir / "image_pipeline"
    runs: dict[str, list[dict]] = {"automl": [], "keras": [], "hit": [], "floor": []}
    for repeat in range(repeats):
        cache_dir = scratch / f"cache-{repeat}"
        shutil.rmtree(cache_dir, ignore_errors=True)
        cache_dir.mkdir(parents=True)
        try:
            for side in ("automl", "keras", "hit", "floor"):
                found = measure(side, folder, size, cache_dir)
                found["repeat"] = repeat
                runs[side].append(found)
                print(f"repeat {repeat} {side:>6}: {found['seconds']:.3f} s, {found['images']} images"
                      + (f" (load {found['load_seconds']:.3f} s + first batch {found['first_batch_seconds']:.3f} s, "
                         f"cache hit: {found['cache_hit']})" if side == "hit" else ""), flush=True)
        finally:
            shutil.rmtree(cache_dir, ignore_errors=True)

    best = {side: min(rows, key=lambda r: r["seconds"]) for side, rows in runs.items()}
    per_second = {side: best[side]["images"] / best[side]["seconds"] for side in ("automl", "keras", "floor")}
    speedup = per_second["automl"] / per_second["keras"]
    share = best["hit"]["seconds"] / best["automl"]["seconds"]
    threads = {"cpu_count": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
               "automl_decode_threads": best["automl"].get("decode_threads"),
               "tf_intra_op_threads": best["keras"].get("tf_intra_op_threads"),
               "tf_inter_op_threads": best["keras"].get("tf_inter_op_threads")}
    shared = {"images": count, "image_size": list(size), "photo_long_side": LONG_SIDE, "folder_bytes": size_bytes,
              "warm_read_seconds": round(warm_seconds, 2), "repeats": repeats, "threads": threads}

    def raw(side: str, *fields: str) -> list[dict]:
        return [{k: (round(r[k], 4) if isinstance(r[k], float) else r[k]) for k in ("repeat", "seconds", *fields)
                 if k in r} for r in runs[side]]

    problems = []
    if not all(r["cache_hit"] for r in runs["hit"]):
        problems.append("the second load_dataset did not report re-using the cache")
    if best["automl"]["images"] != best["keras"]["images"]:
        problems.append(f"automl loaded {best['automl']['images']} images, Keras {best['keras']['images']}")
    found = {
        "image_decode_speedup": result(
            "image_decode_speedup", round(speedup, 3), command,
            automl_images_per_second=round(per_second["automl"], 1),
            keras_images_per_second=round(per_second["keras"], 1),
            automl_seconds=raw("automl", "images", "stages", "x_train_type", "import_seconds"),
            keras_seconds=raw("keras", "images", "import_seconds"),
            # (D): the highest speedup any loader on this decoder could reach on this machine.
            floor_images_per_second=round(per_second["floor"], 1),
            floor_speedup=round(per_second["floor"] / per_second["keras"], 3), floor_seconds=raw("floor", "images"),
            **shared),
        "image_cache_hit_share": result(
            "image_cache_hit_share", round(share, 4), command,
            hit_seconds=round(best["hit"]["seconds"], 4), first_load_seconds=round(best["automl"]["seconds"], 4),
            hit_runs=raw("hit", "load_seconds", "first_batch_seconds", "cache_hit", "x_train_type", "batch_shape"),
            **shared),
    }
    if problems:
        for value in found.values():
            value["problems"] = problems
        found["image_cache_hit_share"]["met"] = False if not all(r["cache_hit"] for r in runs["hit"]) else \
            found["image_cache_hit_share"]["met"]
    path = store(found, quick=args.quick)
    print()
    print(f"{count} images of {LONG_SIDE} px to {size[0]}x{size[1]}, {threads['usable_cores']} cores; "
          f"best of {repeats}:")
    print(f"  (A) automl first load        {best['automl']['seconds']:8.3f} s  {per_second['automl']:8.1f} images/s")
    print(f"      stages: {', '.join(f'{k} {v:.3f} s' for k, v in best['automl'].get('stages', {}).items())}")
    print(f"  (B) Keras image_dataset_...  {best['keras']['seconds']:8.3f} s  {per_second['keras']:8.1f} images/s")
    print(f"  (D) scaled JPEG decode alone {best['floor']['seconds']:8.3f} s  {per_second['floor']:8.1f} images/s  "
          f"({per_second['floor'] / per_second['keras']:.3f}x Keras: the ceiling of (A))")
    print(f"  (C) automl cache hit         {best['hit']['seconds']:8.3f} s  (load {best['hit']['load_seconds']:.3f} s "
          f"+ first batch {best['hit']['first_batch_seconds']:.3f} s)")
    for key, value in found.items():
        met = {True: "met", False: "NOT met", None: "no goal"}[value["met"]]
        print(f"{key}: {value['value']} (goal {value['goal']}: {met})")
    for problem in problems:
        print(f"problem: {problem}")
    print(f"stored in {path}")


if __name__ == "__main__":
    main()
