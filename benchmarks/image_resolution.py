"""What the input size costs a photo search on this machine: the measurement behind the default size.

For each square size, the same photo-like folder (`automl.testing.photos`, 640 px, mixed sizes and EXIF
orientations) is loaded at that size and the first candidate a default image search trains (the
``image_default`` space's first initial trial) is trained for a fixed number of epochs through automl's own
trainer. Recorded per size: seconds per epoch after the first (which also traces the graph), the first
epoch, the uint8 cache per 1,000 images, and the best validation accuracy within those epochs (a hint
only: a few epochs say little about where a longer training ends).

    python benchmarks/image_resolution.py [--images 1000] [--sizes 32 48 64 96 128] [--epochs 4] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

from common import HERE, result, store


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000, help="photos in the folder (4 classes)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 48, 64, 96, 128])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="200 images, sizes 32 and 64, 2 epochs")
    args = parser.parse_args()
    if args.quick:
        args.images, args.sizes, args.epochs = 200, [32, 64], 2

    from automl.testing.photos import write_photo_folder

    folder = write_photo_folder(HERE / ".work" / f"photos_{args.images}", per_class=args.images // 4)
    os.environ["AUTOML_CACHE_DIR"] = tempfile.mkdtemp(prefix="automl-resolution-")

    from automl.data import load_dataset
    from automl.plugin_manager import build_registry
    from automl.search_space import SearchSpace
    from automl.trainer import train_candidate

    registry = build_registry(autoload=False)
    space = SearchSpace.load("image_default", registry)
    [(first, _), *_] = space.initial_candidates(registry, "image")
    candidate = type(first)(**{**first.to_dict(), "max_epochs": args.epochs, "patience": args.epochs})
    rows = []
    for size in args.sizes:
        started = time.perf_counter()
        dataset = load_dataset(str(folder.root), image_size=(size, size), seed=0)
        load_seconds = time.perf_counter() - started
        epoch_ends: list[float] = []
        started = time.perf_counter()
        outcome = train_candidate(dataset, candidate, registry, seed=0,
                                  on_epoch=lambda epoch, logs, ends=epoch_ends: ends.append(time.perf_counter()))
        steps = [b - a for a, b in zip([started, *epoch_ends], epoch_ends)]
        row = {"size": size, "load_seconds": round(load_seconds, 2), "first_epoch_seconds": round(steps[0], 2),
               "seconds_per_epoch": round(sum(steps[1:]) / max(1, len(steps) - 1), 2),
               "cache_mb_per_1000_images": round(size * size * 3 * 1000 / 1e6, 1),
               "best_val_accuracy": round(max(outcome.history.get("val_accuracy", [float("nan")])), 4),
               "param_count": outcome.param_count, "status": outcome.status}
        rows.append(row)
        print(json.dumps(row), flush=True)

    command = "python benchmarks/image_resolution.py" + (" --quick" if args.quick else
                                                         f" --images {args.images} --epochs {args.epochs}")
    by_size = {r["size"]: r for r in rows}
    reference = by_size.get(64) or rows[0]
    results = {"image_seconds_per_epoch_by_size": result(
        "image_seconds_per_epoch_by_size", {r["size"]: r["seconds_per_epoch"] for r in rows}, command,
        candidate=candidate.to_dict(), images=len(folder.files), train_images=len(dataset.y_train), rows=rows,
        relative_to_64={r["size"]: round(r["seconds_per_epoch"] / reference["seconds_per_epoch"], 2) for r in rows})}
    print(f"stored in {store(results, quick=args.quick)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
