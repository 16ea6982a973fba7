"""Two objectives searched together, or one searched and the other only measured: the Pareto fronts of accuracy
and model size on digits.

Both runs are the real command line on the same seed, data split and trial count:

* ``automl search builtin:digits --space quick --objectives val_accuracy,param_count`` — the TPE proposals
  come from a two-objective TPE over both values (``TradeOffProposer``), pruning on val_accuracy;
* ``automl search builtin:digits --space quick --objective val_accuracy`` — one-objective TPE; every trial
  still records its parameter count, so the same front can be read from its trials.

Each run's front is scored by its hypervolume in (validation accuracy, log10 parameters): the area it dominates
above accuracy ``--floor`` and below the largest model either run trained. Larger is better; the ratio of the
two-objective run's to the one-objective run's is the result. Beside it: each front's size, the fewest
parameters reaching ``--target`` validation accuracy, and the best validation accuracy (what the export ranks by),
so a wider front is not bought with a worse best model.

    python benchmarks/trade_off.py [--trials 20] [--seeds 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
from pathlib import Path

from common import automl_cli, leaderboard_rows, result, store

MODES = {"two_objectives": ("--objectives", "val_accuracy,param_count"), "one_objective": ("--objective",
                                                                                           "val_accuracy")}


def search(mode: str, trials: int, seed: int, folder: Path) -> list[dict]:
    out = folder / f"{mode}-s{seed}"
    automl_cli("search", "builtin:digits", "--space", "quick", "--trials", trials, "--seed", seed, *MODES[mode],
               "--out", out, "--quiet")
    return [r for r in leaderboard_rows(out) if r["status"] == "complete" and r.get("param_count")]


def front(rows: list[dict]) -> list[tuple[float, float]]:
    """The (log10 parameters, accuracy) points no other trial beats on both, smallest model first."""
    points = sorted((math.log10(r["param_count"]), r["val_accuracy"]) for r in rows)
    kept: list[tuple[float, float]] = []
    for size, accuracy in points:
        if not kept or accuracy > kept[-1][1]:
            kept.append((size, accuracy))
    return kept


def hypervolume(points: list[tuple[float, float]], floor: float, largest: float) -> float:
    """The area between the front (minimised size, maximised accuracy), accuracy ``floor`` and size ``largest``."""
    area = 0.0
    for i, (size, accuracy) in enumerate(points):
        right = points[i + 1][0] if i + 1 < len(points) else largest
        area += max(0.0, accuracy - floor) * max(0.0, right - size)
    return area


def summary(rows: list[dict], floor: float, largest: float, target: float) -> dict:
    points = front(rows)
    reaching = [r["param_count"] for r in rows if r["val_accuracy"] >= target]
    return {"hypervolume": round(hypervolume(points, floor, largest), 5), "front_size": len(points),
            "complete_trials": len(rows), "fewest_params_at_target": min(reaching) if reaching else None,
            "best_val_accuracy": max(r["val_accuracy"] for r in rows),
            "front": [(round(10 ** size), round(accuracy, 4)) for size, accuracy in points]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--floor", type=float, default=0.9, help="the accuracy the hypervolume counts from")
    parser.add_argument("--target", type=float, default=0.97, help="the accuracy of 'fewest parameters at target'")
    parser.add_argument("--quick", action="store_true", help="6 trials, 1 seed (a smoke run, not a result)")
    args = parser.parse_args()
    if args.quick:
        args.trials, args.seeds = 6, 1

    runs: dict[int, dict[str, list[dict]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            order = list(MODES) if seed % 2 == 0 else list(reversed(MODES))
            runs[seed] = {mode: search(mode, args.trials, seed, Path(tmp)) for mode in order}
    largest = max(math.log10(r["param_count"]) for by_mode in runs.values() for rows in by_mode.values()
                  for r in rows)
    per_seed = []
    for seed, by_mode in runs.items():
        row = {"seed": seed, **{mode: summary(rows, args.floor, largest, args.target) for mode, rows in by_mode.items()}}
        per_seed.append(row)
        print(json.dumps(row), flush=True)

    def mean_volume(mode: str) -> float:
        return statistics.mean(row[mode]["hypervolume"] for row in per_seed)

    ratio = mean_volume("two_objectives") / mean_volume("one_objective") if mean_volume("one_objective") else None
    command = "python benchmarks/trade_off.py" + (" --quick" if args.quick else
                                                  f" --trials {args.trials} --seeds {args.seeds}")
    found = {"trade_off_hypervolume_ratio": result(
        "trade_off_hypervolume_ratio", round(ratio, 3) if ratio is not None else None, command,
        mean_hypervolume={mode: round(mean_volume(mode), 5) for mode in MODES}, floor=args.floor,
        largest_log10_params=round(largest, 4), target=args.target, seeds=per_seed)}
    path = store(found, quick=args.quick)
    print(json.dumps({k: v for k, v in found["trade_off_hypervolume_ratio"].items() if k != "seeds"}, indent=2))
    print(f"stored in {path}")


if __name__ == "__main__":
    main()
