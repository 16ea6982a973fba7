"""Engine speed: the same fixed candidates trained by a plain script vs by automl's trial runner.

The plain side is what users write: numpy arrays into ``model.fit`` with one step per execution. The automl
side is :func:`automl.trainer.train_candidate` (cached, prefetched tf.data; many steps per execution). Both
build the identical model (same candidate, same seed) and train the same number of epochs (early stopping
is disabled on both sides by a patience equal to the epoch count), alternating the order per candidate so
machine drift hits both. The result is a ratio, plain wall time ÷ automl wall time.

    python benchmarks/engine_vs_plain_fit.py [--candidates 6] [--epochs 15] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from common import result, store

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="3 candidates × 5 epochs")
    args = parser.parse_args()
    if args.quick:
        args.candidates, args.epochs = 3, 5

    import keras

    from automl.data import load_dataset
    from automl.hp import RandomDriver
    from automl.model import build_model, input_scaling, plugin_values
    from automl.plugin_manager import build_registry
    from automl.search_space import SearchSpace
    from automl.trainer import build_context, train_candidate

    registry = build_registry(autoload=False)
    space = SearchSpace.load("quick", registry)
    dataset = load_dataset("builtin:digits", seed=0)
    scaling = input_scaling(dataset.task, dataset.preprocessing, dataset.x_train)
    candidates = []
    for seed in range(100):
        candidate = space.sample(RandomDriver(seed), registry, "image")
        if candidate.architecture == "cnn":  # the benchmark's fixed family: the digits CNN
            candidates.append(type(candidate)(**{**candidate.to_dict(), "max_epochs": args.epochs,
                                                 "patience": args.epochs}))
        if len(candidates) == args.candidates:
            break

    def plain(candidate, seed):  # timed like the engine: from build to fitted model
        started = time.perf_counter()
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed)
        context = build_context(dataset, candidate, seed)
        model = build_model(candidate, registry, context, scaling)
        optimizer = registry.get("optimizer", candidate.optimizer).plugin
        model.compile(optimizer=optimizer.build(plugin_values(candidate, "optimizer", registry), context),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(dataset.x_train, dataset.y_train, validation_data=(dataset.x_val, dataset.y_val),
                            epochs=candidate.max_epochs, batch_size=candidate.batch_size, verbose=0)
        return time.perf_counter() - started, max(history.history["val_accuracy"])

    def engine(candidate, seed):
        started = time.perf_counter()
        result = train_candidate(dataset, candidate, registry, seed=seed)
        return time.perf_counter() - started, max(result.history["val_accuracy"])

    engine(candidates[0], 0)  # warm-up of both paths: TF start-up is not what is measured
    plain(candidates[0], 0)
    rows = []
    for i, candidate in enumerate(candidates):
        order = [("plain", plain), ("automl", engine)] if i % 2 == 0 else [("automl", engine), ("plain", plain)]
        row = {"candidate": i}
        for name, fn in order:
            seconds, accuracy = fn(candidate, seed=i)
            row[f"{name}_seconds"], row[f"{name}_val_accuracy"] = seconds, accuracy
        rows.append(row)
        print(f"candidate {i}: plain {row['plain_seconds']:.2f}s (val {row['plain_val_accuracy']:.4f})  "
              f"automl {row['automl_seconds']:.2f}s (val {row['automl_val_accuracy']:.4f})", flush=True)

    plain_total = sum(r["plain_seconds"] for r in rows)
    automl_total = sum(r["automl_seconds"] for r in rows)
    command = "python benchmarks/engine_vs_plain_fit.py" + (" --quick" if args.quick else
                                                           f" --candidates {args.candidates} --epochs {args.epochs}")
    results = {"engine_speedup_vs_plain_fit": result(
        "engine_speedup_vs_plain_fit", round(plain_total / automl_total, 3), command,
        per_candidate_median=round(statistics.median(r["plain_seconds"] / r["automl_seconds"] for r in rows), 3),
        plain_seconds=round(plain_total, 2), automl_seconds=round(automl_total, 2), candidates=len(rows),
        epochs=args.epochs, rows=rows)}
    path = store(results, quick=args.quick)
    print(json.dumps({k: v for k, v in results["engine_speedup_vs_plain_fit"].items() if k != "rows"}, indent=2))
    print(f"stored in {path}")


if __name__ == "__main__":
    sys.exit(main())
