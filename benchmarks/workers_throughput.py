"""Trials per hour of the digits CNN (15 epochs a trial) with 1 vs 2 local worker processes.

Both runs are the real command line — ``automl search builtin:digits --space benchmarks/spaces/digits_cnn.yaml
--trials N --pruner none --seed S --workers K`` — timed from start to exit (TensorFlow's import in each
worker, the final test evaluation and the export included), alternating which one goes first. Every trial
trains exactly 15 epochs (no pruning, patience 15), so trials per hour compare like for like; epochs per
second are reported beside them.

    python benchmarks/workers_throughput.py [--trials 24] [--repeats 1] [--quick]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from common import HERE, automl_cli, leaderboard_rows, result, store

SPACE = HERE / "spaces" / "digits_cnn.yaml"


def run(workers: int, trials: int, seed: int, folder: Path) -> dict:
    out = folder / f"w{workers}-s{seed}"
    started = time.perf_counter()
    automl_cli("search", "builtin:digits", "--space", SPACE, "--trials", trials, "--pruner", "none", "--seed", seed,
               "--workers", workers, "--out", out, "--quiet")
    seconds = time.perf_counter() - started
    done = [r for r in leaderboard_rows(out) if r["status"] in ("complete", "pruned")]
    epochs = sum(r["epochs"] for r in done)
    return {"workers": workers, "seconds": seconds, "trials": len(done), "epochs": epochs,
            "trials_per_hour": len(done) / seconds * 3600, "epochs_per_second": epochs / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="6 trials, 1 repeat (a smoke run, not a result)")
    args = parser.parse_args()
    if args.quick:
        args.trials, args.repeats = 6, 1

    results = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            order = (1, 2) if repeat % 2 == 0 else (2, 1)
            for workers in order:
                row = run(workers, args.trials, seed=repeat, folder=Path(tmp))
                results[workers].append(row)
                print(json.dumps(row), flush=True)

    def per_hour(workers: int) -> float:
        return sum(r["trials"] for r in results[workers]) / sum(r["seconds"] for r in results[workers]) * 3600

    def per_second(workers: int) -> float:
        return sum(r["epochs"] for r in results[workers]) / sum(r["seconds"] for r in results[workers])

    command = "python benchmarks/workers_throughput.py" + (" --quick" if args.quick else
                                                          f" --trials {args.trials} --repeats {args.repeats}")
    found = {"trials_per_hour_2_workers": result(
        "trials_per_hour_2_workers", round(per_hour(2), 1), command, trials_per_hour_1_worker=round(per_hour(1), 1),
        speedup_2_vs_1=round(per_hour(2) / per_hour(1), 3), epochs_per_second_1_worker=round(per_second(1), 3),
        epochs_per_second_2_workers=round(per_second(2), 3), runs=results[1] + results[2])}
    path = store(found, quick=args.quick)
    print(json.dumps({k: v for k, v in found["trials_per_hour_2_workers"].items() if k != "runs"}, indent=2))
    print(f"stored in {path}")


if __name__ == "__main__":
    main()
