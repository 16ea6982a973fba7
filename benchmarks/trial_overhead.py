"""Per-trial overhead of the engine over many trials in one process: memory growth and bookkeeping time.

Runs N trials of the ``quick`` space on ``builtin:digits`` (TPE sampler, Hyperband pruner, the run
directory's Optuna journal) through automl's own trial runner in this process — what ``--workers 0`` does and
what a worker process does between recycles — and measures after every trial:

* ``rss_mb_per_trial``: the slope of the process's resident memory (``VmRSS``) over the trials after a
  warm-up of 10 (least squares), in MB per trial;
* ``bookkeeping_share``: the sampler's ``ask``, the pruner's ``report``/``should_prune`` and the storage's
  ``tell`` (the backend's own stopwatch) ÷ the trials' training time. Beside it, everything the runner does
  outside training (slot lock, records read, keeping the top-k model files) ÷ training time.

With ``--profile`` the same loop runs under cProfile and, instead of the two keys, stores
``bookkeeping_profile``: where the bookkeeping time goes (cumulative seconds of the sampler's, pruner's and
journal storage's own functions; cProfile slows Python code, so compare its parts, not its total, with the
share above).

    python benchmarks/trial_overhead.py [--trials 120] [--quick] [--profile]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from common import result, store

WARM_UP = 10
# The functions whose cumulative time says where the bookkeeping goes: (label, module path suffix, name).
PROFILED = [
    ("Study.ask (sampler + storage)", "optuna/study/study.py", "ask"),
    ("  TPE sample_relative", "optuna/samplers/_tpe/sampler.py", "sample_relative"),
    ("  TPE sample_independent", "optuna/samplers/_tpe/sampler.py", "sample_independent"),
    ("  TPE infer_relative_search_space", "optuna/samplers/_tpe/sampler.py", "infer_relative_search_space"),
    ("Trial.report (storage)", "optuna/trial/_trial.py", "report"),
    ("Trial.should_prune", "optuna/trial/_trial.py", "should_prune"),
    ("  HyperbandPruner.prune", "optuna/pruners/_hyperband.py", "prune"),
    ("Study.tell (storage)", "optuna/study/study.py", "tell"),
    ("Trial.set_user_attr (the record)", "optuna/trial/_trial.py", "set_user_attr"),
    ("journal: replay of new log lines", "optuna/storages/journal/_storage.py", "_sync_with_backend"),
    ("journal: append + fsync", "optuna/storages/journal/_file.py", "append_logs"),
    ("journal: get_all_trials", "optuna/storages/journal/_storage.py", "get_all_trials"),
]


def profile_table(profiler) -> dict[str, dict[str, float]]:
    """Cumulative seconds and calls of each PROFILED function."""
    import pstats

    stats = pstats.Stats(profiler).stats
    table = {}
    for label, suffix, name in PROFILED:
        found = [(row[1], row[3]) for (path, _, func), row in stats.items()
                 if func == name and path.replace("\\", "/").endswith(suffix)]
        table[label] = {"seconds": round(sum(t for _, t in found), 3), "calls": sum(c for c, _ in found)}
    return table


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found in /proc/self/status (this benchmark needs Linux)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=120)
    parser.add_argument("--quick", action="store_true", help="30 trials (a smoke run, not a result)")
    parser.add_argument("--profile", action="store_true", help="store where the bookkeeping time goes instead")
    args = parser.parse_args()
    if args.quick:
        args.trials = 30
    if args.trials < WARM_UP + 10:
        parser.error(f"--trials must be at least {WARM_UP + 10} (a warm-up of {WARM_UP}, then the slope)")

    import numpy as np

    from automl.backends import open_backend
    from automl.data import load_dataset
    from automl.plugin_manager import build_registry
    from automl.runner import RunContext, TrialRunner
    from automl.search_space import SearchSpace
    from automl.trainer import quiet_tensorflow

    quiet_tensorflow()
    registry = build_registry(autoload=False)
    space = SearchSpace.load("quick", registry)
    dataset = load_dataset("builtin:digits", seed=0)
    memory, outside = [], []
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        backend = open_backend("optuna", run_dir, space, registry, dataset.task, sampler="tpe", pruner="hyperband",
                               seed=0, expected_trials=args.trials)
        context = RunContext(run_dir, dataset, space, registry, seed=0, target=args.trials, deadline=None, top_k=3,
                             checkpoint_every=None)
        runner = TrialRunner(context, backend, emit=lambda event: None)
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        for number in range(args.trials):
            started = time.perf_counter()
            if runner.run_one() != "ran":
                break
            elapsed = time.perf_counter() - started
            memory.append(rss_mb())
            record = backend.records()[-1]
            outside.append(elapsed - (record.get("train_seconds") or 0.0))
            if number % 10 == 0:
                print(f"trial {number}: rss {memory[-1]:.0f} MB, {elapsed:.2f} s", flush=True)
        if profiler:
            profiler.disable()
        records = backend.records()
    train_seconds = sum(r.get("train_seconds") or 0.0 for r in records)
    trials = np.arange(len(memory))
    slope = float(np.polyfit(trials[WARM_UP:], np.array(memory[WARM_UP:]), 1)[0])
    command = "python benchmarks/trial_overhead.py" + (" --quick" if args.quick else f" --trials {args.trials}")
    common = {"trials": len(memory), "statuses": {s: sum(r["status"] == s for r in records)
                                                  for s in ("complete", "pruned", "failed")}}
    if profiler:
        parts = profile_table(profiler)
        path = store({"bookkeeping_profile": result(
            "bookkeeping_profile", round(backend.bookkeeping_seconds / train_seconds, 5), command + " --profile",
            what="under cProfile: bookkeeping share (inflated by the profiler) and where it goes",
            bookkeeping_seconds=round(backend.bookkeeping_seconds, 3), train_seconds=round(train_seconds, 2),
            parts=parts, **common)}, quick=args.quick)
        for label, part in parts.items():
            print(f"{label:40} {part['seconds']:8.3f} s  {part['calls']:6} calls")
        print(f"stored in {path}")
        return
    results = {
        "rss_mb_per_trial": result(
            "rss_mb_per_trial", round(slope, 3), command, rss_mb_first=round(memory[0], 1),
            rss_mb_after_warm_up=round(memory[WARM_UP], 1), rss_mb_last=round(memory[-1], 1),
            rss_mb=[round(m, 1) for m in memory], where="one process, automl's TrialRunner (as --workers 0)",
            **common),
        "bookkeeping_share": result(
            "bookkeeping_share", round(backend.bookkeeping_seconds / train_seconds, 5), command,
            bookkeeping_seconds=round(backend.bookkeeping_seconds, 3), train_seconds=round(train_seconds, 2),
            outside_training_share=round(sum(outside) / train_seconds, 5),
            outside_training_seconds=round(sum(outside), 3), **common),
    }
    path = store(results, quick=args.quick)
    print(json.dumps({k: {"value": v["value"], "met": v["met"]} for k, v in results.items()}, indent=2))
    print(f"stored in {path}")


if __name__ == "__main__":
    main()
