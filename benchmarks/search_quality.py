"""Search quality at a fixed wall-clock budget, automl against KerasTuner and a hand-rolled Optuna loop.

For each seed, three searches on ``builtin:digits`` with the same split (automl's loader with that seed) and
the same budget run one after another, in an order rotated per seed:

* automl's default search: ``automl search builtin:digits --time-budget B --seed S`` (the ``image_default``
  space, TPE with Hyperband pruning, one worker process);
* KerasTuner Hyperband over an equivalent hypermodel (``benchmarks/baselines.py kerastuner``);
* Optuna random search without pruning over the same hypermodel (``benchmarks/baselines.py optuna_random``).

Two keys come out of these runs:

* ``digits_test_accuracy_5min``: the test accuracy of automl's best trial (rank 1 by validation accuracy;
  the test split never influenced the search), mean over seeds; the alternatives' figures beside it;
* ``time_to_target_ratio``: seconds from launch until a finished trial first reached 98 % validation accuracy,
  automl ÷ Optuna random search without pruning, median over seeds (a run that never reaches it counts as
  its whole budget, and is flagged).

    python benchmarks/search_quality.py [--seeds 3] [--budget 300] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ENV, HERE, automl_cli, leaderboard_rows, result, store

TARGET = 0.98
TOOLS = ("automl", "kerastuner", "optuna_random")


def automl_trial_times(run_dir: Path, launched_at: float) -> list[list[float]]:
    """[seconds since launch, validation accuracy] of each finished trial, from the run's Optuna journal."""
    import optuna

    from automl.storage import StorageSpec

    study = optuna.load_study(study_name="automl", storage=StorageSpec.for_run(run_dir, None).open())
    times = []
    for trial in study.get_trials(deep_copy=False):
        if trial.datetime_complete is None:
            continue
        if trial.state == optuna.trial.TrialState.COMPLETE:
            score = trial.value
        elif trial.intermediate_values:  # a pruned trial: the best it reported before it was stopped
            score = max(trial.intermediate_values.values())
        else:
            continue
        times.append([trial.datetime_complete.timestamp() - launched_at, float(score)])
    return sorted(times)


def run_tool(tool: str, seed: int, budget: float, folder: Path) -> dict:
    launched_at = time.time()
    if tool == "automl":
        run_dir = folder / f"automl-{seed}"
        automl_cli("search", "builtin:digits", "--time-budget", f"{int(budget)}s", "--seed", seed, "--out", run_dir,
                   "--quiet")
        seconds = time.time() - launched_at
        rows = leaderboard_rows(run_dir)
        best = min((r for r in rows if r["rank"] is not None), key=lambda r: r["rank"])
        return {"tool": tool, "seed": seed, "test_accuracy": best["test_accuracy"], "seconds": seconds,
                "best_val_accuracy": best["val_accuracy"], "best_architecture": best["architecture"],
                "finished_trials": sum(r["status"] in ("complete", "pruned") for r in rows),
                "trials": automl_trial_times(run_dir, launched_at)}
    out = folder / f"{tool}-{seed}.json"
    subprocess.run([sys.executable, str(HERE / "baselines.py"), tool, "--seed", str(seed), "--budget", str(budget),
                    "--out", str(out), "--launched-at", str(launched_at)], env=ENV, check=True, capture_output=True)
    found = json.loads(out.read_text())
    scores = [s for _, s in found["trials"]]
    return {"tool": tool, "seed": seed, "test_accuracy": found["test_accuracy"], "seconds": found["seconds"],
            "best_val_accuracy": max(scores) if scores else None, "finished_trials": len(scores),
            "trials": found["trials"]}


def time_to_target(run: dict, budget: float) -> tuple[float, bool]:
    """Seconds until a finished trial first reached TARGET, and whether it did (else: the run's length)."""
    for seconds, score in run["trials"]:
        if score >= TARGET:
            return seconds, True
    return max(run["seconds"], budget), False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=float, default=300.0, help="seconds per search (default 300)")
    parser.add_argument("--quick", action="store_true", help="1 seed, 40 s per search (a smoke run, not a result)")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.budget = 1, 40.0
    command = "python benchmarks/search_quality.py" + (" --quick" if args.quick else
                                                       f" --seeds {args.seeds} --budget {int(args.budget)}")
    runs: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            order = TOOLS[seed % 3:] + TOOLS[: seed % 3]  # each tool goes first once in three seeds
            for tool in order:
                run = run_tool(tool, seed, args.budget, Path(tmp))
                run["time_to_target"], run["reached_target"] = time_to_target(run, args.budget)
                runs.append(run)
                print(json.dumps({k: v for k, v in run.items() if k != "trials"}), flush=True)

    def of(tool: str) -> list[dict]:
        return [r for r in runs if r["tool"] == tool]

    accuracy = {tool: round(statistics.mean(r["test_accuracy"] for r in of(tool)), 4) for tool in TOOLS}
    ratios = [a["time_to_target"] / b["time_to_target"] for a, b in zip(of("automl"), of("optuna_random"))]
    details = {"budget_seconds": args.budget, "seeds": args.seeds, "target_val_accuracy": TARGET,
               "runs": [{k: v for k, v in r.items()} for r in runs]}
    results = {
        "digits_test_accuracy_5min": result(
            "digits_test_accuracy_5min", accuracy["automl"], command,
            per_seed={tool: [r["test_accuracy"] for r in of(tool)] for tool in TOOLS},
            mean_by_tool=accuracy, **details),
        "time_to_target_ratio": result(
            "time_to_target_ratio", round(statistics.median(ratios), 3), command, per_seed_ratio=ratios,
            seconds_by_tool={tool: [round(r["time_to_target"], 1) for r in of(tool)] for tool in TOOLS},
            reached_by_tool={tool: [r["reached_target"] for r in of(tool)] for tool in TOOLS},
            compared_with="optuna_random (hand-rolled Optuna loop, RandomSampler, no pruning, same hypermodel)"),
    }
    path = store(results, quick=args.quick)
    print(json.dumps({k: {"value": v["value"], "met": v["met"]} for k, v in results.items()}, indent=2))
    print(f"stored in {path}")


if __name__ == "__main__":
    main()
