"""The same search on the TensorFlow and the JAX Keras backends.

Each run is the real command line — ``automl search builtin:digits --space quick --trials N --pruner none
--seed S`` with ``KERAS_BACKEND=tensorflow`` or ``=jax`` — timed from start to exit (the import of Keras in the
worker, every trial's compilation, the final test evaluation and the export, which is written by a
TensorFlow-backend process on both), alternating which backend goes first. Pruning is off so both train full
trials; the two backends draw different random numbers, so the sampled trials and their epoch counts differ,
and the figure that compares them fairly is epochs per second (epochs from ``automl leaderboard RUN --json``).
The import time of Keras on each backend (``python -c "import keras"``) is measured apart, median of a few.

    python benchmarks/keras_backend.py [--trials 8] [--repeats 2] [--quick]

Prints a JSON summary whose ``keras_backend.value`` is TensorFlow's seconds per epoch over JAX's (above 1: JAX
is faster), and stores it under ``keras_backend`` in benchmarks/results.json (``--quick``, a smoke run and not a
result: benchmarks/results-quick.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from importlib import metadata, util
from pathlib import Path

from common import store

HERE = Path(__file__).resolve().parent
BACKENDS = ("tensorflow", "jax")
BASE_ENV = {**os.environ, "AUTOML_DISABLE_PLUGIN_AUTOLOAD": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


def env_for(backend: str) -> dict[str, str]:
    return {**BASE_ENV, "KERAS_BACKEND": backend}


def import_seconds(backend: str) -> float:
    """Wall time of a fresh ``python -c "import keras"`` on ``backend`` (checked to be that backend)."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", "import keras; print(keras.backend.backend())"], env=env_for(backend),
                          check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.stdout.strip().splitlines()[-1] != backend:
        raise SystemExit(f"asked Keras for {backend}, got {proc.stdout.strip()!r}")
    return seconds


def search(backend: str, trials: int, seed: int, folder: Path) -> dict:
    out = folder / f"{backend}-s{seed}"
    command = [sys.executable, "-m", "automl", "search", "builtin:digits", "--space", "quick", "--trials", str(trials),
               "--pruner", "none", "--seed", str(seed), "--out", str(out), "--quiet"]
    started = time.perf_counter()
    proc = subprocess.run(command, env=env_for(backend), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"KERAS_BACKEND={backend} {' '.join(command[1:])} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    recorded = next((line.split(":", 1)[1].strip() for line in (out / "config.yaml").read_text().splitlines()
                     if line.startswith("keras_backend:")), None)
    if recorded != backend:
        raise SystemExit(f"the run asked for {backend} recorded keras_backend {recorded!r}")
    rows = json.loads(subprocess.run([sys.executable, "-m", "automl", "leaderboard", str(out), "--json"],
                                     env=env_for("tensorflow"), check=True, capture_output=True, text=True).stdout)
    done = [r for r in rows if r["status"] in ("complete", "pruned")]
    best = next(r for r in rows if r["rank"] == 1)
    epochs = sum(r["epochs"] for r in done)
    return {"backend": backend, "seed": seed, "seconds": round(seconds, 2), "trials": len(done), "epochs": epochs,
            "epochs_per_second": round(epochs / seconds, 4),
            "train_seconds": round(sum(r["train_seconds"] or 0 for r in done), 2),  # inside trials (fit + build)
            "best_val_accuracy": best["val_accuracy"], "best_test_accuracy": best["test_accuracy"],
            "failed": len(rows) - len(done)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--import-repeats", type=int, default=5, help="fresh `import keras` runs per backend")
    parser.add_argument("--quick", action="store_true", help="3 trials, 1 repeat, 2 imports per backend (a smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.trials, args.repeats, args.import_repeats = 3, 1, 2
    if util.find_spec("jax") is None:
        raise SystemExit('this benchmark needs JAX: pip install "jax[cpu]" (or pip install -e ".[jax]")')

    import automl

    load_before = os.getloadavg()
    imports: dict[str, list[float]] = {b: [] for b in BACKENDS}
    for repeat in range(args.import_repeats):
        for backend in BACKENDS if repeat % 2 == 0 else BACKENDS[::-1]:
            imports[backend].append(round(import_seconds(backend), 3))
    print(json.dumps({"import_seconds": imports}), flush=True)

    runs: dict[str, list[dict]] = {b: [] for b in BACKENDS}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for backend in BACKENDS if repeat % 2 == 0 else BACKENDS[::-1]:
                row = search(backend, args.trials, seed=repeat, folder=Path(tmp))
                runs[backend].append(row)
                print(json.dumps(row), flush=True)

    def total(backend: str, key: str) -> float:
        return sum(r[key] for r in runs[backend])

    per_backend = {}
    for backend in BACKENDS:
        per_backend[backend] = {
            "seconds": round(total(backend, "seconds"), 2),
            "epochs": total(backend, "epochs"),
            "epochs_per_second": round(total(backend, "epochs") / total(backend, "seconds"), 4),
            "seconds_per_trial": round(total(backend, "seconds") / total(backend, "trials"), 2),
            "train_seconds_per_epoch": round(total(backend, "train_seconds") / total(backend, "epochs"), 4),
            "best_val_accuracy": [r["best_val_accuracy"] for r in runs[backend]],
            "best_test_accuracy": [r["best_test_accuracy"] for r in runs[backend]],
            "import_keras_seconds_median": round(statistics.median(imports[backend]), 3),
        }
    tf, jax = per_backend["tensorflow"], per_backend["jax"]
    # TensorFlow's seconds per epoch over JAX's: above 1, JAX searches faster.
    value = round(jax["epochs_per_second"] / tf["epochs_per_second"], 3)
    summary = {
        "value": value,
        "unit": "TensorFlow seconds per epoch / JAX seconds per epoch (whole search, wall clock); > 1: JAX faster",
        "winner": "jax" if value > 1 else "tensorflow",
        "command": "python benchmarks/keras_backend.py --quick" if args.quick else
                   f"python benchmarks/keras_backend.py --trials {args.trials} --repeats {args.repeats} "
                   f"--import-repeats {args.import_repeats}",
        "search_command": f"automl search builtin:digits --space quick --trials {args.trials} --pruner none "
                          "--seed S --out DIR --quiet  (KERAS_BACKEND=tensorflow | jax)",
        "date": date.today().isoformat(),
        "ratios_tf_over_jax": {
            "epoch_seconds_whole_search": value,
            "wall_seconds": round(tf["seconds"] / jax["seconds"], 3),
            "train_seconds_per_epoch": round(tf["train_seconds_per_epoch"] / jax["train_seconds_per_epoch"], 3),
            "import_keras_seconds": round(tf["import_keras_seconds_median"] / jax["import_keras_seconds_median"], 3),
        },
        "tensorflow": tf,
        "jax": jax,
        "import_seconds": imports,
        "versions": {"automl": automl.__version__, "python": platform.python_version(),
                     **{name: metadata.version(name) for name in ("keras", "tensorflow", "jax", "jaxlib")}},
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],  # a shared machine
        "runs": runs["tensorflow"] + runs["jax"],
    }
    print(json.dumps({"keras_backend": {k: v for k, v in summary.items() if k != "runs"}}, indent=2))
    print(f"stored in {store({'keras_backend': summary}, quick=args.quick)}")


if __name__ == "__main__":
    main()
