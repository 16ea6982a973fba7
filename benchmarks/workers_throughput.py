"""Trials per hour with 1 vs 2 local worker processes, on the same search.

Both runs are the real command line — ``automl search builtin:digits --space quick --trials N --pruner none
--seed S --workers K`` — timed from start to exit (including TensorFlow's import in each worker, the final
test evaluation and the export), alternating which one goes first. Pruning is off so both runs train the
same kind of work (full trials); the samplers still differ by worker count, so the per-trial epochs are
reported too, and the figure that compares them fairly is epochs per second.

    python benchmarks/workers_throughput.py [--trials 16] [--repeats 1] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ENV = {**os.environ, "AUTOML_DISABLE_PLUGIN_AUTOLOAD": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}


def run(workers: int, trials: int, seed: int, folder: Path) -> dict:
    out = folder / f"w{workers}-s{seed}"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "automl", "search", "builtin:digits", "--space", "quick", "--trials",
                    str(trials), "--pruner", "none", "--seed", str(seed), "--workers", str(workers), "--out", str(out),
                    "--quiet"], env=ENV, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    rows = json.loads(subprocess.run([sys.executable, "-m", "automl", "leaderboard", str(out), "--json"], env=ENV,
                                     check=True, capture_output=True, text=True).stdout)
    done = [r for r in rows if r["status"] in ("complete", "pruned")]
    epochs = sum(r["epochs"] for r in done)
    return {"workers": workers, "seconds": seconds, "trials": len(done), "epochs": epochs,
            "trials_per_hour": len(done) / seconds * 3600, "epochs_per_second": epochs / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="8 trials, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        args.trials, args.repeats = 8, 1

    import keras
    import tensorflow as tf

    import automl

    results = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            order = (1, 2) if repeat % 2 == 0 else (2, 1)
            for workers in order:
                row = run(workers, args.trials, seed=repeat, folder=Path(tmp))
                results[workers].append(row)
                print(json.dumps(row), flush=True)

    def total(workers: int, key: str) -> float:
        rows = results[workers]
        return sum(r[key] for r in rows) / sum(r["seconds"] for r in rows) * (3600 if key == "trials" else 1)

    summary = {
        "command": f"python benchmarks/workers_throughput.py --trials {args.trials} --repeats {args.repeats}",
        "date": date.today().isoformat(),
        "trials_per_hour_1_worker": round(total(1, "trials"), 1),
        "trials_per_hour_2_workers": round(total(2, "trials"), 1),
        "epochs_per_second_1_worker": round(total(1, "epochs"), 3),
        "epochs_per_second_2_workers": round(total(2, "epochs"), 3),
        "versions": {"automl": automl.__version__, "tensorflow": tf.__version__, "keras": keras.__version__,
                     "python": platform.python_version()},
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "runs": results[1] + results[2],
    }
    summary["speedup_2_vs_1_trials"] = round(summary["trials_per_hour_2_workers"] / summary["trials_per_hour_1_worker"], 3)
    summary["speedup_2_vs_1_epochs"] = round(summary["epochs_per_second_2_workers"]
                                             / summary["epochs_per_second_1_worker"], 3)
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=2))
    path = HERE / "results.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    stored["workers_throughput"] = summary
    path.write_text(json.dumps(stored, indent=2) + "\n")


if __name__ == "__main__":
    main()
