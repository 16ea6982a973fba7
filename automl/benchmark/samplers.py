"""``automl benchmark samplers``: the same short search with each sampler, through the real search engine."""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.benchmark.common import (
    CONFIG_FILE,
    DEFAULT_SAMPLER_TRIALS,
    DEFAULT_SAMPLERS,
    Display,
    check_positive,
    check_same_benchmark,
    data_name,
    lock_folder,
    now_text,
    read_stored,
    resolve_out,
    score_text,
    seeds_text,
    versions,
)
from automl.benchmark.document import (
    ALPHA,
    TESTS,
    Document,
    format_mean_std,
    format_number,
    format_p,
    json_safe,
    plot_best_so_far,
    summarize,
)
from automl.errors import ConfigError
from automl.io import atomic_write_json, atomic_write_text
from automl.leaderboard import is_finite_number
from automl.objectives import direction

if TYPE_CHECKING:
    from automl.backends import SearchBackend
    from automl.data import Dataset
    from automl.plugin_manager import Registry

# === samplers ==========================================================================================
@dataclass
class SamplerBenchmark:
    """What ``automl benchmark samplers`` runs."""

    data: str
    out: str | None = None
    samplers: list[str] | None = None  # "backend:sampler"; default DEFAULT_SAMPLERS
    seeds: int = 3
    trials: int | None = None  # default DEFAULT_SAMPLER_TRIALS unless a time budget is given
    time_budget: float | None = None  # seconds per search
    space: str = "quick"
    pruner: str | None = None  # for the Optuna samplers; default: Optuna's default (hyperband)
    test: str = "welch"
    target: str | None = None
    image_size: tuple[int, int] | None = None
    plugins_dir: str | None = None

    def validate(self) -> list[tuple[str, str]]:
        """Check the options; return the (backend, sampler) pairs."""
        from automl.backends import find_backend
        from automl.plugin_manager import build_registry

        check_positive("--seeds", self.seeds, "--seeds 3")
        check_positive("--trials", self.trials, "--trials 12")
        if self.time_budget is not None and not self.time_budget > 0:
            raise ConfigError(f"--time-budget must be positive; got {self.time_budget} seconds.")
        if self.test not in TESTS:
            raise ConfigError(f"--test must be one of {', '.join(TESTS)}; got {self.test!r}.")
        registry = build_registry(plugins_dir=self.plugins_dir)
        pairs = [parse_sampler(name, registry) for name in (self.samplers or DEFAULT_SAMPLERS)]
        if not pairs:
            raise ConfigError(f"--samplers lists no sampler; give e.g. {','.join(DEFAULT_SAMPLERS)}.")
        for backend, sampler in pairs:  # a sampler whose package is missing fails now, not after the others ran
            plugin = find_backend(registry, backend)
            plugin.check_choice(sampler, self.pruner if prunes(plugin) else None)
        return list(dict.fromkeys(pairs))

    @property
    def target_trials(self) -> int | None:
        return self.trials if self.trials is not None or self.time_budget is not None else DEFAULT_SAMPLER_TRIALS

    def default_out(self) -> str:
        return str(Path("runs") / f"benchmark-samplers-{data_name(self.data)}")


def prunes(backend: SearchBackend) -> bool:
    """Whether --pruner applies to the backend: it has a pruner besides "none"."""
    return any(name != "none" for name in backend.pruners)


def parse_sampler(text: str, registry: Registry) -> tuple[str, str]:
    """``optuna:tpe`` → ("optuna", "tpe"); a bare name is accepted when one installed backend alone has it."""
    from automl.backends import DEFAULT_BACKEND, find_backend

    # The default backend first, so a choice between backends reads "optuna:random or kerastuner:random".
    names = sorted((entry.name for entry in registry.backend_entries()), key=lambda n: (n != DEFAULT_BACKEND, n))
    samplers = {name: find_backend(registry, name).samplers for name in names}
    every = ", ".join(f"{b}:{s}" for b, names in samplers.items() for s in names)
    name = text.strip().lower()
    if ":" in name:
        backend, sampler = name.split(":", 1)
        if backend in samplers and sampler in samplers[backend]:
            return backend, sampler
        raise ConfigError(f"--samplers: unknown sampler {text!r}; choose from: {every}.")
    owners = [b for b, names in samplers.items() if name in names]
    if len(owners) == 1:
        return owners[0], name
    if owners:
        raise ConfigError(f"--samplers: {text!r} is a sampler of several backends; write "
                          f"{' or '.join(f'{b}:{name}' for b in owners)}.")
    raise ConfigError(f"--samplers: unknown sampler {text!r}; choose from: {every}.")


@dataclass
class SamplerOutcome:
    out: Path
    table: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    trained: int = 0
    reused: int = 0
    seconds: float = 0.0
    files: list[Path] = field(default_factory=list)


class _SearchRecorder:
    """The progress object handed to :func:`automl.search_engine.search`: it timestamps every finished trial
    (wall time since the search was started) and forwards progress to the benchmark's display."""

    def __init__(self, display: Display, label: str, started: float) -> None:
        self.display, self.label, self.started = display, label, started
        self.events: list[dict[str, Any]] = []
        self.quiet = display.progress is None

    def start(self, total: int | None, done: int, budget_seconds: float | None) -> None:
        self.display.begin(self.label, total or (int(budget_seconds) if budget_seconds else None))

    def trial_started(self, number: int, candidate: Any, done: int) -> None:
        pass

    def epoch_end(self, epoch: int, max_epochs: int, logs: dict[str, float]) -> None:
        pass

    def trial_finished(self, record: dict[str, Any], done: int, best: float | None) -> None:
        seconds = time.perf_counter() - self.started
        self.events.append({
            "seconds": seconds, "trial": record.get("trial"), "status": record.get("status"),
            "objective": record.get("objective"), "val_accuracy": record.get("val_accuracy"),
            "val_loss": record.get("val_loss"), "epochs": record.get("epochs"), "reason": record.get("reason", ""),
        })
        self.display.step(done, f"best {score_text(best)}")
        if self.quiet:
            self.display.message(f"  {self.label} trial {record.get('trial')} {record.get('status')} objective "
                                 f"{score_text(record.get('objective'))} at {seconds:.1f} s")

    def message(self, text: str) -> None:
        if not text.startswith("exporting"):  # the search's own export chatter, once per search
            self.display.message(f"  {self.label}: {text}")

    def close(self) -> None:
        pass  # the benchmark's display outlives each search


def run_sampler_benchmark(bench: SamplerBenchmark, *, quiet: bool = False) -> SamplerOutcome:
    """Run (or continue) the sampler benchmark and write its report; see the module docstring."""
    from automl.data import load_dataset
    from automl.plugin_manager import build_registry
    from automl.search_space import SearchSpace

    started = time.perf_counter()
    pairs = bench.validate()
    registry = build_registry(plugins_dir=bench.plugins_dir)
    space = SearchSpace.load(bench.space, registry)
    # Every sampler starts from its own first point: queued configurations would make the first trials equal
    # for the Optuna samplers (and KerasTuner cannot queue them at all).
    space.initial_trials = []
    out = resolve_out(bench.out or bench.default_out())
    dataset = load_dataset(bench.data, target=bench.target, image_size=bench.image_size, seed=0)
    space.for_task(dataset.task, registry)
    maximize = direction(space.objective) == "maximize"
    identity = {"kind": "samplers", "data": bench.data, "data_fingerprint": dataset.fingerprint,
                "space": json.loads(json.dumps(space.to_dict(), default=str)), "trials": bench.target_trials,
                "time_budget": bench.time_budget, "pruner": bench.pruner}
    check_same_benchmark(out, identity)
    out.mkdir(parents=True, exist_ok=True)
    lock = lock_folder(out)
    try:
        atomic_write_json(out / CONFIG_FILE, identity)
        for leftover in out.glob("curves/.*.tmp"):  # a write cut short by a kill; that search runs again
            leftover.unlink(missing_ok=True)
        runs, trained, reused = _run_searches(out, bench, pairs, identity, quiet)
        outcome = SamplerOutcome(out, [], runs, trained, reused)
        groups = {f"{b}:{s}": [r["final_best"] for r in runs if r["sampler"] == f"{b}:{s}"] for b, s in pairs}

        outcome.table = summarize(groups, higher_is_better=maximize, test=bench.test)
        for row in outcome.table:
            mine = [r for r in runs if r["sampler"] == row["name"]]
            for measure in ("time_to_best", "last_trial_seconds", "search_seconds", "best_test_accuracy",
                            "complete", "pruned", "failed"):
                values = [r[measure] for r in mine if is_finite_number(r.get(measure))]
                row[f"mean_{measure}"] = sum(values) / len(values) if values else math.nan
        outcome.seconds = time.perf_counter() - started
        outcome.files = _write_sampler_report(outcome, bench, space, dataset, maximize)
        return outcome
    finally:
        lock.release()


def _run_searches(out: Path, bench: SamplerBenchmark, pairs: list[tuple[str, str]], identity: dict[str, Any],
                  quiet: bool) -> tuple[list[dict[str, Any]], int, int]:
    from automl.backends import find_backend
    from automl.plugin_manager import build_registry
    from automl.search_engine import Experiment, search

    registry = build_registry(plugins_dir=bench.plugins_dir)

    jobs = []
    for seed in range(bench.seeds):  # seeds outermost: machine-speed drift hits every sampler alike
        for backend, sampler in pairs:
            spec = {**identity, "backend": backend, "sampler": sampler, "seed": seed}
            name = f"{backend}-{sampler}-seed{seed}"
            path = out / "curves" / f"{name}.json"
            jobs.append((name, spec, path, read_stored(path, spec)))
    missing = sum(1 for job in jobs if job[3] is None)
    runs, trained, reused = [], 0, 0
    display = Display(quiet, missing, "searches to run") if missing else None
    if missing:
        _warm_up_imports()
    try:
        for number, (name, spec, path, stored) in enumerate(jobs, start=1):
            if stored is not None:
                runs.append(stored["result"])
                reused += 1
                continue
            assert display is not None  # there is one whenever a search is missing
            run_dir = out / "runs" / name
            # A search interrupted earlier cannot be timed from its start any more: it runs again from scratch.
            shutil.rmtree(run_dir, ignore_errors=True)
            label = f"{spec['backend']}:{spec['sampler']} seed {spec['seed']}"
            started = time.perf_counter()
            recorder = _SearchRecorder(display, label, started)
            experiment = Experiment(
                data=bench.data, out=str(run_dir), space=bench.space, trials=bench.target_trials,
                time_budget=bench.time_budget, seed=spec["seed"], backend=spec["backend"], sampler=spec["sampler"],
                pruner=bench.pruner if prunes(find_backend(registry, spec["backend"])) else None, target=bench.target,
                image_size=bench.image_size, plugins_dir=bench.plugins_dir,
                workers=0, top_k=1,  # in-process for every backend (KerasTuner's only mode): equal footing
                initial_trials=False,
            )
            result = search(experiment=experiment, progress=recorder)
            search_seconds = time.perf_counter() - started
            run = _summarize_run(spec, recorder.events, search_seconds, result.leaderboard_,
                                 maximize=direction(identity["space"]["objective"]) == "maximize")

            stored = {"spec": spec, "result": json_safe(run)}
            atomic_write_json(path, stored)
            runs.append(stored["result"])
            trained += 1
            display.end(f"{number}/{len(jobs)} {label}: best {score_text(run['final_best'])} after "
                        f"{run['time_to_best'] or 0:.1f} s; {run['complete']} complete, {run['pruned']} pruned, "
                        f"{run['failed']} failed trials; search {search_seconds:.1f} s")
    finally:
        if display is not None:
            display.close()
    return runs, trained, reused


def _warm_up_imports() -> None:
    """Import the heavy libraries before the first clock starts, so the first search does not pay for them."""
    import keras_tuner  # noqa: F401
    import optuna  # noqa: F401
    import tensorflow  # noqa: F401


def _summarize_run(spec: dict[str, Any], events: list[dict[str, Any]], search_seconds: float, frame,
                   *, maximize: bool) -> dict[str, Any]:
    points, best, time_to_best = [], None, None
    for event in events:
        value = event.get("objective")
        if event.get("status") == "complete" and is_finite_number(value):
            if best is None or (value > best if maximize else value < best):
                best, time_to_best = value, event["seconds"]
            points.append([event["seconds"], value])
    test = math.nan
    if frame is not None and len(frame) and "test_accuracy" in frame:
        ranked = frame[frame["rank"] == 1]
        if len(ranked) and is_finite_number(ranked["test_accuracy"].iloc[0]):
            test = float(ranked["test_accuracy"].iloc[0])
    statuses = [e.get("status") for e in events]
    return {
        "sampler": f"{spec['backend']}:{spec['sampler']}", "seed": spec["seed"], "final_best": best,
        "time_to_best": time_to_best, "last_trial_seconds": events[-1]["seconds"] if events else math.nan,
        "search_seconds": search_seconds, "best_test_accuracy": test, "complete": statuses.count("complete"),
        "pruned": statuses.count("pruned"), "failed": statuses.count("failed"), "points": points, "events": events,
        "finished_at": now_text(),
    }


def _write_sampler_report(outcome: SamplerOutcome, bench: SamplerBenchmark, space, dataset: Dataset,
                          maximize: bool) -> list[Path]:
    import csv
    import io


    out = outcome.out
    objective = space.objective
    curve = out / "plots" / "best_so_far.png"
    runs_by_sampler: dict[str, list[list[tuple[float, float]]]] = {}
    for run in outcome.runs:
        runs_by_sampler.setdefault(run["sampler"], []).append([tuple(p) for p in run["points"]])
    stop = (f"{bench.target_trials} trials" if bench.target_trials else "") + (
        (" or " if bench.target_trials else "") + f"{bench.time_budget:g} s" if bench.time_budget else "")
    plot_best_so_far(curve, f"best-so-far {objective} vs wall time on {bench.data} ({stop} per search)",
                     runs_by_sampler, f"best {objective} so far", maximize=maximize, end_seconds=bench.time_budget)

    doc = Document(f"Sampler benchmark: {bench.data}")
    doc.paragraph(f"{dataset.summary()} (split of seed 0; each search splits with its own seed). Generated {now_text()} "
                  f"by `automl benchmark samplers`; {outcome.trained} search(es) run now, {outcome.reused} reused.")
    doc.heading("Setup")
    doc.bullets([
        f"the same search for every sampler: space `{bench.space}` (objective `{objective}`), stopping at {stop}, "
        f"{seeds_text(bench.seeds)} (a seed sets the split, the sampler and training)",
        "searches run in the benchmark process (`--workers 0`, KerasTuner's only mode), one at a time, seeds "
        "outermost so slow drift of the machine's speed hits every sampler alike",
        f"Optuna samplers with the `{bench.pruner or 'hyperband'}` pruner; KerasTuner samplers have none (Hyperband's "
        "brackets are its early stopping)",
        "wall time counts from the call to the search engine (data load and backend start included) to the moment "
        "each trial's result was stored; the final test scoring and export of the best model come after the last "
        "trial and are in the search time column only",
        f"best-so-far counts complete trials only (as the leaderboard ranks them); significance: {TESTS[bench.test]} "
        f"of each sampler's final best against the best sampler's, α = {ALPHA}",
    ])
    doc.heading("Results")
    doc.table(
        ["rank", "sampler", "n", f"final best {objective} mean ± std", "median", f"p vs best ({bench.test})",
         f"significantly worse (p<{ALPHA})", "time to best (s)", "last trial (s)", "search (s)",
         "test_accuracy of best", "complete / pruned / failed"],
        [[str(r["rank"] or "-"), f"`{r['name']}`", r["n"], format_mean_std(r["mean"], r["std"]),
          format_number(r["median"]), format_p(r["p_value"], best=r["is_best"]),
          "—" if r["is_best"] else ("n/a" if r["significantly_worse"] is None else
                                    ("**yes**" if r["significantly_worse"] else "no")),
          format_number(r["mean_time_to_best"], 1), format_number(r["mean_last_trial_seconds"], 1),
          format_number(r["mean_search_seconds"], 1), format_number(r["mean_best_test_accuracy"]),
          " / ".join(f"{r[f'mean_{k}']:g}" for k in ("complete", "pruned", "failed"))]
         for r in outcome.table])
    doc.image("plots/best_so_far.png", "best-so-far objective vs wall time")
    doc.heading("Every search")
    doc.table(["sampler", "seed", f"final best {objective}", "time to best (s)", "last trial (s)", "search (s)",
               "complete", "pruned", "failed"],
              [[f"`{r['sampler']}`", r["seed"], format_number(r["final_best"]), format_number(r["time_to_best"], 1),
                format_number(r["last_trial_seconds"], 1), format_number(r["search_seconds"], 1), r["complete"],
                r["pruned"], r["failed"]] for r in outcome.runs])
    doc.heading("Machine")
    doc.paragraph(", ".join(f"{k} {v}" for k, v in versions().items()) + f". Wall time of this run: "
                  f"{outcome.seconds:.0f} s. The search run directories are kept under `runs/`.")

    columns = ["sampler", "seed", "final_best", "time_to_best", "last_trial_seconds", "search_seconds",
               "best_test_accuracy", "complete", "pruned", "failed"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for run in outcome.runs:
        writer.writerow({k: ("" if run.get(k) is None else run.get(k)) for k in columns})
    results = {"kind": "samplers", "generated": now_text(), "benchmark": asdict(bench), "objective": objective,
               "versions": versions(), "table": outcome.table, "runs": outcome.runs}
    atomic_write_json(out / "results.json", json_safe(results))
    atomic_write_text(out / "results.csv", buffer.getvalue())
    atomic_write_text(out / "report.md", doc.to_markdown())
    atomic_write_text(out / "report.html", doc.to_html())
    return [out / "report.md", out / "report.html", out / "results.json", out / "results.csv", curve]
