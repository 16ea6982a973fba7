"""Search quality at a fixed wall-clock budget, automl against KerasTuner and a hand-rolled Optuna loop.

For each seed, four searches on ``builtin:digits`` with the same split (automl's loader with that seed) and
the same budget run one after another, in an order rotated per seed:

* automl's default search: ``automl search builtin:digits --time-budget B --seed S`` (the ``image_default``
  space with its initial trials, TPE with Hyperband pruning, one worker process, the best three trials
  averaged into the exported model);
* KerasTuner Hyperband over an equivalent hypermodel (``benchmarks/baselines.py kerastuner``);
* Optuna random search without pruning over the same hypermodel (``benchmarks/baselines.py optuna_random``);
* plain random search over automl's default space, no pruning, no initial trials, its best trial exported
  (``--sampler random --pruner none --no-initial-trials --ensemble 1``): the same space, data pipeline and
  trainer, so that only the search strategy differs;
* automl's default search exporting its best trial alone (``--ensemble 1``): what the ensemble adds.

Two keys come out of these runs:

* ``digits_test_accuracy_5min``: the test accuracy of the model automl's default search exported (its best
  trial by validation accuracy; the test split never influenced the search), mean over seeds; the
  alternatives' figures beside it;
* ``time_to_target_ratio``: seconds from launch until a finished trial first reached 98 % validation accuracy,
  automl (TPE + Hyperband pruning) ÷ random search without pruning over the same space, median over seeds (a
  run that never reaches it counts as its whole budget, and is flagged). The same ratio against the
  hand-rolled loop, whose single CNN hypermodel is a different (smaller) space, is given beside it.

Beside them, scikit-learn's ``SVC()`` with its defaults on the same splits (a second of work): the
reference the accuracy goal is set against, and a measure of how hard each seed's test split is.

Every finished search is appended to ``benchmarks/out/search_quality-<budget>s.jsonl`` as it finishes, and
a rerun with the same budget skips the searches found there (the full run is an hour): ``--fresh``
starts over.

    python benchmarks/search_quality.py [--seeds 3] [--budget 300] [--quick] [--fresh] [--tools automl ...]

``--tools`` runs only some of the searches (e.g. ``--tools automl`` re-measures the accuracy key alone after
a change that cannot touch the others); the time-to-target key needs ``automl`` and ``automl_random``.
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

OUT = HERE / "out"

TARGET = 0.98
TOOLS = ("automl", "kerastuner", "optuna_random", "automl_random", "automl_single")
# automl's own searches, by the extra options each one adds to `automl search builtin:digits`.
AUTOML_SEARCHES = {"automl": [],
                   "automl_random": ["--sampler", "random", "--pruner", "none", "--no-initial-trials",
                                     "--ensemble", "1"],
                   "automl_single": ["--ensemble", "1"]}


def automl_trial_times(run_dir: Path, launched_at: float) -> list[list[float]]:
    """[seconds since launch, validation accuracy] of each finished trial, from the run's Optuna journal."""
    import optuna

    from automl.storage import StorageSpec

    study = optuna.load_study(study_name="automl", storage=StorageSpec.for_run(run_dir, None).open())
    times = []
    for trial in study.get_trials(deepcopy=False):
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
    if tool in AUTOML_SEARCHES:
        run_dir = folder / f"{tool}-{seed}"
        automl_cli("search", "builtin:digits", "--time-budget", f"{int(budget)}s", "--seed", seed, "--out", run_dir,
                   "--quiet", *AUTOML_SEARCHES[tool])
        seconds = time.time() - launched_at
        rows = leaderboard_rows(run_dir)
        best = min((r for r in rows if r["rank"] is not None), key=lambda r: r["rank"])
        from automl.export import exported_trials, read_card

        card = read_card(run_dir / "best")  # what the search exported
        return {"tool": tool, "seed": seed, "test_accuracy": card["metrics"]["test"]["accuracy"],
                "best_trial_test_accuracy": best["test_accuracy"],
                "exported_trials": exported_trials(card), "seconds": seconds,
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


def svc_reference(seed: int) -> dict:
    """Test and validation accuracy of scikit-learn's default SVC on automl's digits split for ``seed``."""
    from sklearn.svm import SVC

    from automl.data import load_dataset

    dataset = load_dataset("builtin:digits", seed=seed)
    flat = {name: getattr(dataset, f"x_{name}").reshape(len(getattr(dataset, f"x_{name}")), -1)
            for name in ("train", "val", "test")}
    model = SVC().fit(flat["train"], dataset.y_train)
    return {"seed": seed, "test_accuracy": round(float(model.score(flat["test"], dataset.y_test)), 4),
            "val_accuracy": round(float(model.score(flat["val"], dataset.y_val)), 4)}


def load_finished(path: Path) -> dict[tuple[str, int], dict]:
    """The searches a previous, interrupted invocation finished (one JSON object a line)."""
    if not path.exists():
        return {}
    finished = {}
    for line in path.read_text().splitlines():
        if line.strip():
            run = json.loads(line)
            finished[run["tool"], run["seed"]] = run
    return finished


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=float, default=300.0, help="seconds per search (default 300)")
    parser.add_argument("--quick", action="store_true", help="1 seed, 40 s per search (a smoke run, not a result)")
    parser.add_argument("--fresh", action="store_true", help="ignore the searches an earlier invocation finished")
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS), help="which searches to run")
    args = parser.parse_args()
    tools = tuple(t for t in TOOLS if t in args.tools)
    if "automl" not in tools:
        parser.error(f"--tools must include automl (its accuracy is the key this script stores); got {args.tools}")
    if args.quick:
        args.seeds, args.budget = 1, 40.0
    OUT.mkdir(exist_ok=True)
    runs_file = OUT / f"search_quality-{int(args.budget)}s.jsonl"
    if args.fresh or args.quick:
        runs_file.unlink(missing_ok=True)
    finished = load_finished(runs_file)
    command = "python benchmarks/search_quality.py" + (" --quick" if args.quick else
                                                       f" --seeds {args.seeds} --budget {int(args.budget)}")
    if tools != TOOLS:
        command += " --tools " + " ".join(tools)
    runs: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            order = tools[seed % len(tools):] + tools[: seed % len(tools)]  # who goes first rotates per seed
            for tool in order:
                if (tool, seed) in finished:
                    run = finished[tool, seed]
                    print(f"{tool} seed {seed}: finished earlier ({runs_file})", flush=True)
                else:
                    run = run_tool(tool, seed, args.budget, Path(tmp))
                    run["time_to_target"], run["reached_target"] = time_to_target(run, args.budget)
                    with runs_file.open("a") as sink:  # one line a search: a crash loses at most the current one
                        sink.write(json.dumps(run) + "\n")
                    print(json.dumps({k: v for k, v in run.items() if k != "trials"}), flush=True)
                runs.append(run)

    def of(tool: str) -> list[dict]:
        return [r for r in runs if r["tool"] == tool]

    accuracy = {tool: round(statistics.mean(r["test_accuracy"] for r in of(tool)), 4) for tool in tools}
    svc = [svc_reference(seed) for seed in range(args.seeds)]
    def ratios(baseline: str) -> list[float]:
        return [round(a["time_to_target"] / b["time_to_target"], 3) for a, b in zip(of("automl"), of(baseline))]

    details = {"budget_seconds": args.budget, "seeds": args.seeds, "target_val_accuracy": TARGET,
               "runs": [{k: v for k, v in r.items()} for r in runs]}
    results = {
        "digits_test_accuracy_5min": result(
            "digits_test_accuracy_5min", accuracy["automl"], command,
            per_seed={tool: [r["test_accuracy"] for r in of(tool)] for tool in tools},
            mean_by_tool=accuracy, svc_reference={
                "what": "sklearn.svm.SVC() defaults on the same splits (flattened 8x8 pixels)",
                "test_accuracy_mean": round(statistics.mean(r["test_accuracy"] for r in svc), 4), "per_seed": svc},
            **details),
    }
    if {"automl", "automl_random", "optuna_random"} <= set(tools):
        results["time_to_target_ratio"] = result(
            "time_to_target_ratio", round(statistics.median(ratios("automl_random")), 3), command,
            per_seed_ratio=ratios("automl_random"),
            compared_with="automl_random (automl search --sampler random --pruner none --no-initial-trials "
                          "--ensemble 1: the same space, sampled at random from the first trial)",
            vs_optuna_random={"median": round(statistics.median(ratios("optuna_random")), 3),
                              "per_seed": ratios("optuna_random"),
                              "what": "hand-rolled Optuna loop, RandomSampler, no pruning, one CNN hypermodel"},
            seconds_by_tool={tool: [round(r["time_to_target"], 1) for r in of(tool)] for tool in tools},
            reached_by_tool={tool: [r["reached_target"] for r in of(tool)] for tool in tools})
    path = store(results, quick=args.quick)
    print(json.dumps({k: {"value": v["value"], "met": v["met"]} for k, v in results.items()}, indent=2))
    print(f"stored in {path}")


if __name__ == "__main__":
    main()
