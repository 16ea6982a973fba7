"""``automl benchmark``: measured comparisons through the real trainer and the real search engine.

**optimizers** — every installed optimizer plugin (or those named) × seeds on fixed architectures with their
plugins' default hyperparameters. Each (architecture, optimizer, seed) *cell* is one
:func:`automl.trainer.train_candidate` call; its result is written to ``OUT/cells/`` the moment it finishes,
so re-running the same command continues where it stopped and never trains a finished cell again. Then:
a table per architecture (mean ± std, median, rank, p-value against the best), learning-curve and score
plots, ``report.md`` / ``report.html``, ``results.json`` and ``results.csv``.

**samplers** — the same short search (data, space, trial count or time budget, seed) run with each sampler
(Optuna TPE / random / CMA-ES, KerasTuner Hyperband / Bayesian) through :func:`automl.search_engine.search`;
the best-so-far validation objective is recorded against wall time as each trial finishes.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.benchmark_report import (
    ALPHA,
    TESTS,
    Document,
    format_mean_std,
    format_number,
    format_p,
    json_safe,
    plot_best_so_far,
    plot_learning_curves,
    plot_scores,
    summarize,
)
from automl.errors import ConfigError, RunDirectoryError, UnknownPluginError
from automl.io import atomic_write_json, atomic_write_text, safe_name
from automl.leaderboard import is_finite_number

if TYPE_CHECKING:
    from automl.data import Dataset
    from automl.plugin_manager import Registry
    from automl.search_space import Candidate

CONFIG_FILE = "benchmark.json"
DEFAULT_ARCHITECTURES = {"image": ("cnn", "mlp"), "tabular": ("mlp",)}
# Ranking metric -> True when higher is better. Accuracies are those of the model at its best epoch (the
# lowest validation loss, whose weights the trainer restores), except final_val_accuracy (the last epoch).
METRICS = {"test_accuracy": True, "val_accuracy": True, "final_val_accuracy": True, "val_loss": False}
TUNING_SEED = 1_000_000  # never one of the evaluation seeds 0..K-1: the learning rate is not picked on them
DEFAULT_SAMPLERS = ("optuna:tpe", "optuna:random", "optuna:cmaes", "kerastuner:hyperband", "kerastuner:bayesian")
DEFAULT_SAMPLER_TRIALS = 12


# --- shared helpers ------------------------------------------------------------------------------------
def parse_names(text: str | Sequence[str] | None) -> list[str] | None:
    """``"adam, sgd"`` or ``["adam", "sgd"]`` → ``["adam", "sgd"]`` (order kept, duplicates dropped)."""
    if text is None:
        return None
    parts = text.split(",") if isinstance(text, str) else [p for item in text for p in str(item).split(",")]
    names = [p.strip() for p in parts if p.strip()]
    return list(dict.fromkeys(names))


def parse_lr_grid(text: str | None) -> list[float] | None:
    """``"0.3,1,3"`` → multipliers of each optimizer's default learning rate."""
    if text is None:
        return None
    try:
        values = [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        values = []
    if not values or any(not math.isfinite(v) or v <= 0 for v in values):
        raise ConfigError(f"--lr-grid takes positive multipliers of each optimizer's default learning rate, "
                          f"e.g. 0.3,1,3; got {text!r}.")
    return sorted(set(values))


def _check_positive(name: str, value: int | None, example: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"{name} must be a whole number of at least 1; got {value!r}. For example: {example}.")


def _check_plugin_names(registry: Registry, family: str, names: Sequence[str] | None, option: str) -> None:
    if names is None:
        return
    if not names:
        raise ConfigError(f"{option} lists no name; give at least one of: {', '.join(registry.names(family))}.")
    installed = registry.names(family)
    unknown = [n for n in names if n not in installed]
    if unknown:
        raise UnknownPluginError(
            f"{option}: unknown {family} plugin(s) {', '.join(map(repr, unknown))}; installed {family} plugins: "
            f"{', '.join(installed) or 'none'}. Fix the name(s), or see `automl plugins`."
        )


def _data_name(data: str) -> str:
    return safe_name(data.split(":", 1)[1] if data.startswith("builtin:") else Path(data).stem)


def _resolve_out(out: str | Path) -> Path:
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise RunDirectoryError(f"--out {str(path)!r} is a file; pass a folder for the benchmark.")
    return path


def _check_same_benchmark(out: Path, identity: dict[str, Any]) -> None:
    """Refuse to mix two different benchmarks in one folder (its results would no longer be comparable)."""
    path = out / CONFIG_FILE
    if not path.is_file():
        return
    previous = json.loads(path.read_text())
    changed = sorted(k for k in set(identity) | set(previous) if previous.get(k) != identity.get(k))
    if changed:
        raise RunDirectoryError(
            f"{out} holds a different benchmark: {', '.join(changed)} differ from its {CONFIG_FILE} "
            f"(there: {', '.join(f'{k}={previous.get(k)!r}' for k in changed)}). Re-run with the same options to "
            "continue it, or pass a new --out."
        )


def _lock(out: Path):
    from filelock import FileLock, Timeout

    lock = FileLock(str(out / ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RunDirectoryError(f"another automl benchmark is running on {out} (its lock {out / '.lock'} is held); "
                                "wait for it to finish or pass another --out.") from None
    return lock


def _spec_key(spec: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:10]


def _read_stored(path: Path, spec: dict[str, Any]) -> dict[str, Any] | None:
    """A finished result stored at ``path`` for exactly ``spec``, or None."""
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return stored if stored.get("spec") == json.loads(json.dumps(spec, default=str)) else None


def _versions() -> dict[str, str]:
    import platform
    from importlib import metadata

    from automl.data.images import usable_cores

    versions = {"python": platform.python_version(), "machine": f"{platform.machine()}, {usable_cores()} CPU cores"}
    for package in ("automl", "tensorflow", "keras", "optuna", "keras-tuner", "numpy", "scipy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return versions


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


class _Display:
    """Benchmark progress on stderr: rich bars (items done of N with ETA; the running item's epochs or trials),
    or with ``quiet`` one plain line per finished item (for logs and CI)."""

    def __init__(self, quiet: bool, total: int, unit: str) -> None:
        self.quiet = quiet
        self.progress = None
        if quiet:
            return
        from rich.console import Console

        from automl.progress import progress_bars

        self.progress = progress_bars(Console(stderr=True))
        self.progress.start()
        self.outer = self.progress.add_task(unit, total=total, info="")
        self.inner = self.progress.add_task("", total=1, info="", visible=False)

    def begin(self, description: str, steps: int | None) -> None:
        if self.progress is not None:
            self.progress.update(self.inner, description=description, total=steps, completed=0, info="", visible=True)

    def step(self, completed: int, info: str = "") -> None:
        if self.progress is not None:
            self.progress.update(self.inner, completed=completed, info=info)

    def end(self, line: str) -> None:
        if self.progress is not None:
            self.progress.advance(self.outer)
            self.progress.console.print(line)
        else:
            print(line, file=sys.stderr, flush=True)

    def message(self, text: str) -> None:
        if self.progress is not None:
            self.progress.console.print(text)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


# === optimizers ========================================================================================
@dataclass
class OptimizerBenchmark:
    """What ``automl benchmark optimizers`` runs."""

    data: str
    out: str | None = None
    architectures: list[str] | None = None  # default: DEFAULT_ARCHITECTURES[task]
    optimizers: list[str] | None = None  # default: every installed optimizer plugin for the task
    seeds: int = 3
    epochs: int = 20
    batch_size: int = 64
    patience: int | None = None  # None: early stopping off (patience = epochs), every cell runs all epochs
    metric: str = "test_accuracy"
    test: str = "welch"
    lr_grid: list[float] | None = None  # multipliers of the default learning rate, tuned on validation accuracy
    target: str | None = None
    image_size: tuple[int, int] | None = None
    split_seed: int = 0
    plugins_dir: str | None = None

    def validate(self) -> None:

        _check_positive("--seeds", self.seeds, "--seeds 3")
        _check_positive("--epochs", self.epochs, "--epochs 20")
        _check_positive("--batch-size", self.batch_size, "--batch-size 64")
        _check_positive("--patience", self.patience, f"--patience 4, or leave it out to train all {self.epochs} epochs")
        if self.metric not in METRICS:
            raise ConfigError(f"--metric must be one of {', '.join(METRICS)}; got {self.metric!r}.")
        if self.test not in TESTS:
            raise ConfigError(f"--test must be one of {', '.join(TESTS)}; got {self.test!r}.")
        if self.lr_grid is not None and (not self.lr_grid or any(v <= 0 for v in self.lr_grid)):
            raise ConfigError(f"--lr-grid takes positive multipliers such as 0.3,1,3; got {self.lr_grid!r}.")

    def default_out(self) -> str:
        return str(Path("runs") / f"benchmark-optimizers-{_data_name(self.data)}")


@dataclass
class OptimizerOutcome:
    out: Path
    tables: dict[str, list[dict[str, Any]]]  # architecture -> summary rows, best first
    learning_rates: dict[str, dict[str, dict[str, Any]]]  # architecture -> optimizer -> how its lr was set
    cells: list[dict[str, Any]] = field(default_factory=list)
    trained: int = 0
    reused: int = 0
    seconds: float = 0.0
    files: list[Path] = field(default_factory=list)


def plugin_defaults(registry: Registry, family: str, name: str) -> dict[str, Any]:
    """The plugin's hyperparameters at their declared defaults, by full name (``adam.learning_rate``)."""
    from automl.hp import DefaultsDriver, PluginHP

    hp = PluginHP(name, DefaultsDriver())
    registry.get(family, name).plugin.space(hp)
    return dict(hp.values)


def run_optimizer_benchmark(bench: OptimizerBenchmark, *, quiet: bool = False) -> OptimizerOutcome:
    """Run (or continue) the optimizer benchmark and write its report; see the module docstring."""
    from automl.data import load_dataset
    from automl.plugin_manager import build_registry

    started = time.perf_counter()
    bench.validate()
    registry = build_registry(plugins_dir=bench.plugins_dir)
    _check_plugin_names(registry, "architecture", bench.architectures, "--architectures")
    _check_plugin_names(registry, "optimizer", bench.optimizers, "--optimizers")
    out = _resolve_out(bench.out or bench.default_out())
    dataset = load_dataset(bench.data, target=bench.target, image_size=bench.image_size, seed=bench.split_seed)
    architectures = bench.architectures or [a for a in DEFAULT_ARCHITECTURES[dataset.task]
                                            if a in registry.names("architecture", dataset.task)]
    optimizers = bench.optimizers or registry.names("optimizer", dataset.task)
    for family, names in (("architecture", architectures), ("optimizer", optimizers)):
        unfit = [n for n in names if dataset.task not in registry.get(family, n).plugin.tasks]
        if unfit or not names:
            raise ConfigError(
                f"{family}(s) {', '.join(unfit) or '(none)'} cannot train on {dataset.task} data from {bench.data}; "
                f"{family}s for {dataset.task} data: {', '.join(registry.names(family, dataset.task))}.")
    if "none" not in registry.names("augmentation", dataset.task):
        raise ConfigError("the benchmark trains without augmentation and needs the built-in 'none' augmentation "
                          "plugin, which is not installed or is blocked (AUTOML_DISABLED_PLUGINS).")
    patience = bench.patience or bench.epochs
    identity = {"kind": "optimizers", "data": bench.data, "data_fingerprint": dataset.fingerprint,
                "epochs": bench.epochs, "batch_size": bench.batch_size, "patience": patience,
                "split_seed": bench.split_seed}
    _check_same_benchmark(out, identity)
    out.mkdir(parents=True, exist_ok=True)
    lock = _lock(out)
    try:
        atomic_write_json(out / CONFIG_FILE, identity)
        for leftover in out.glob("cells/.*.tmp"):  # a write cut short by a kill; its cell is trained again
            leftover.unlink(missing_ok=True)
        runner = _CellRunner(out, dataset, registry, bench, patience, quiet)
        learning_rates = runner.tune(architectures, optimizers)
        cells = runner.evaluate(architectures, optimizers, learning_rates)
        outcome = OptimizerOutcome(out, {}, learning_rates, cells, runner.trained, runner.reused)
        outcome.tables = {arch: _optimizer_table(cells, arch, optimizers, bench) for arch in architectures}
        outcome.seconds = time.perf_counter() - started
        outcome.files = _write_optimizer_report(outcome, bench, dataset, registry, architectures, optimizers,
                                                runner.tuning_cells)
        return outcome
    finally:
        lock.release()


class _CellRunner:
    """Trains cells that are not stored yet, stores each one as it finishes, and reuses the stored ones."""

    def __init__(self, out: Path, dataset: Dataset, registry: Registry, bench: OptimizerBenchmark, patience: int,
                 quiet: bool) -> None:
        self.out, self.dataset, self.registry, self.bench = out, dataset, registry, bench
        self.patience, self.quiet = patience, quiet
        self.trained = self.reused = 0
        self.tuning_cells: list[dict[str, Any]] = []

    def candidate(self, architecture: str, optimizer: str, learning_rate: float | None) -> Candidate:
        from automl.search_space import Candidate

        params = {**plugin_defaults(self.registry, "architecture", architecture),
                  **plugin_defaults(self.registry, "augmentation", "none"),
                  **plugin_defaults(self.registry, "optimizer", optimizer)}
        if learning_rate is not None:
            params[f"{optimizer}.learning_rate"] = learning_rate
        return Candidate(architecture, "none", optimizer, params, self.bench.batch_size, self.bench.epochs,
                         self.patience)

    def tune(self, architectures: list[str], optimizers: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
        """How each (architecture, optimizer) gets its learning rate: the plugin's default, or with --lr-grid the
        grid point with the best validation accuracy on one separate tuning seed."""
        chosen: dict[str, dict[str, dict[str, Any]]] = {}
        plan = []
        for arch in architectures:
            chosen[arch] = {}
            for opt in optimizers:
                default = plugin_defaults(self.registry, "optimizer", opt).get(f"{opt}.learning_rate")
                chosen[arch][opt] = {"learning_rate": default, "how": "default", "grid": []}
                if self.bench.lr_grid and isinstance(default, (int, float)):
                    for factor in self.bench.lr_grid:
                        plan.append(("tune", arch, opt, TUNING_SEED, float(default) * factor))
                elif self.bench.lr_grid:
                    chosen[arch][opt]["how"] = "plugin's own (it declares no learning_rate to tune)"
        if not plan:
            return chosen
        self.tuning_cells = self._run(plan, "tuning learning rates")
        for arch in architectures:
            for opt in optimizers:
                tried = [c for c in self.tuning_cells if c["architecture"] == arch and c["optimizer"] == opt]
                if not tried:
                    continue
                entry = chosen[arch][opt]
                entry["grid"] = [{"learning_rate": c["learning_rate"], "val_accuracy": c["val_accuracy"],
                                  "val_loss": c["val_loss"], "status": c["status"]} for c in tried]
                usable = [c for c in tried if c["status"] == "complete" and is_finite_number(c["val_accuracy"])]
                if usable:
                    # Highest validation accuracy; ties (a saturated small split) go to the lower val_loss.
                    best = min(usable, key=lambda c: (-c["val_accuracy"], c["val_loss"]))
                    entry["learning_rate"], entry["how"] = best["learning_rate"], "tuned"
                    if len(tried) > 1 and best["learning_rate"] in (min(c["learning_rate"] for c in tried),
                                                                    max(c["learning_rate"] for c in tried)):
                        entry["how"] = "tuned (at the edge of the grid: widen --lr-grid)"
                else:
                    entry["how"] = "default (every tuning run failed)"
        return chosen

    def evaluate(self, architectures: list[str], optimizers: list[str],
                 learning_rates: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        # Seeds outermost: an interrupted benchmark has balanced partial results, and slow drift of a shared
        # machine's speed hits every optimizer alike.
        plan = [("evaluate", arch, opt, seed, learning_rates[arch][opt]["learning_rate"])
                for seed in range(self.bench.seeds) for arch in architectures for opt in optimizers]
        return self._run(plan, "cells")

    def _run(self, plan: list[tuple], unit: str) -> list[dict[str, Any]]:
        cells_dir = self.out / "cells"
        jobs = []
        for role, arch, opt, seed, lr in plan:
            candidate = self.candidate(arch, opt, lr)
            spec = {"role": role, "seed": seed, "candidate": candidate.to_dict(),
                    "data_fingerprint": self.dataset.fingerprint}
            path = cells_dir / f"{role}-{arch}-{opt}-seed{seed}-{_spec_key(spec)}.json"
            jobs.append((path, spec, candidate, _read_stored(path, spec)))
        missing = sum(1 for job in jobs if job[3] is None)
        display = _Display(self.quiet, missing, f"{unit} to train") if missing else None
        cells = []
        try:
            for number, (path, spec, candidate, stored) in enumerate(jobs, start=1):
                if stored is None:
                    assert display is not None  # there is one whenever a cell is missing
                    stored = self._train(path, spec, candidate, display, f"{number}/{len(jobs)}")
                    self.trained += 1
                else:
                    self.reused += 1
                cells.append(stored["result"])
        finally:
            if display is not None:
                display.close()
        return cells

    def _train(self, path: Path, spec: dict[str, Any], candidate: Candidate, display: _Display,
               position: str) -> dict[str, Any]:
        import numpy as np

        from automl.trainer import train_candidate

        opt = candidate.optimizer
        learning_rate = candidate.params.get(f"{opt}.learning_rate")
        label = f"{candidate.architecture} {opt} seed {spec['seed']}" + (
            f" lr {learning_rate:.3g}" if spec["role"] == "tune" else "")
        display.begin(label, candidate.max_epochs)
        result = train_candidate(
            self.dataset, candidate, self.registry, seed=spec["seed"], objective="val_accuracy",
            on_epoch=lambda epoch, logs: display.step(epoch + 1, f"val_accuracy {logs.get('val_accuracy', math.nan):.4f}"),
        )
        history = result.history
        cell = {
            "role": spec["role"], "architecture": candidate.architecture, "optimizer": opt, "seed": spec["seed"],
            "learning_rate": learning_rate, "status": result.status, "reason": result.reason,
            "val_accuracy": result.val_accuracy, "val_loss": result.val_loss,
            "final_val_accuracy": (history.get("val_accuracy") or [math.nan])[-1],
            "test_accuracy": math.nan, "test_loss": math.nan, "epochs": result.epochs, "best_epoch": result.best_epoch,
            "train_seconds": result.train_seconds, "param_count": result.param_count, "history": history,
            "finished_at": _now(),
        }
        if result.model is not None and spec["role"] == "evaluate":
            # The model holds the weights of its best epoch (lowest val_loss): the test split is scored once.
            probabilities = _predict(result.model, self.dataset.x_test)
            truth = self.dataset.y_test
            cell["test_accuracy"] = float((probabilities.argmax(axis=1) == truth).mean())
            picked = np.clip(probabilities[np.arange(len(truth)), truth], 1e-7, 1.0)
            cell["test_loss"] = float(-np.log(picked).mean())

        atomic_write_json(path, {"spec": spec, "result": json_safe(cell)})
        shown = cell["test_accuracy"] if spec["role"] == "evaluate" else cell["val_accuracy"]
        what = "test_accuracy" if spec["role"] == "evaluate" else "val_accuracy"
        display.end(f"{position} {label}: {result.status} {what} {_fmt(shown)} val_loss {_fmt(cell['val_loss'])} "
                    f"({result.train_seconds:.1f} s){' ' + result.reason if result.reason else ''}")
        return {"spec": spec, "result": json_safe(cell)}


def _predict(model, x, batch: int = 1024):
    """Class probabilities by direct model calls: for small test splits this skips tracing a predict function
    for every cell, which costs more than the scoring itself."""
    import numpy as np

    return np.concatenate([np.asarray(model(np.asarray(x[i:i + batch], dtype=np.float32), training=False))
                           for i in range(0, len(x), batch)])


def _lr_text(value: Any) -> str:
    return f"{value:.3g}" if is_finite_number(value) else "-"


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if is_finite_number(value) else "-"


def _metric_value(cell: dict[str, Any], metric: str) -> float | None:
    value = cell.get(metric)
    return value if cell.get("status") == "complete" and is_finite_number(value) else None


def _optimizer_table(cells: list[dict[str, Any]], architecture: str, optimizers: list[str],
                     bench: OptimizerBenchmark) -> list[dict[str, Any]]:
    """Summary rows for one architecture, best first, with the other measures' means alongside."""

    mine = [c for c in cells if c["architecture"] == architecture]
    groups = {opt: [v for c in mine if c["optimizer"] == opt and (v := _metric_value(c, bench.metric)) is not None]
              for opt in optimizers}
    rows = summarize(groups, higher_is_better=METRICS[bench.metric], test=bench.test)
    for row in rows:
        runs = [c for c in mine if c["optimizer"] == row["name"]]
        row["failed"] = sum(1 for c in runs if c["status"] != "complete")
        row["learning_rate"] = runs[0]["learning_rate"] if runs else None
        for measure in ("val_accuracy", "test_accuracy", "val_loss", "final_val_accuracy", "train_seconds",
                        "best_epoch"):
            values = [c[measure] for c in runs if c["status"] == "complete" and is_finite_number(c.get(measure))]
            row[f"mean_{measure}"] = sum(values) / len(values) if values else math.nan
    return rows


def _write_optimizer_report(outcome: OptimizerOutcome, bench: OptimizerBenchmark, dataset: Dataset,
                            registry: Registry, architectures: list[str], optimizers: list[str],
                            tuning_cells: list[dict[str, Any]]) -> list[Path]:
    import csv
    import io


    out = outcome.out
    metric, early = bench.metric, bench.patience is not None
    files: list[Path] = []
    doc = Document(f"Optimizer benchmark: {bench.data}")
    doc.paragraph(f"{dataset.summary()}. Generated {_now()} by `automl benchmark optimizers`; "
                  f"{outcome.trained} cell(s) trained in this run, {outcome.reused} reused from `cells/`.")
    doc.heading("Setup")
    lr_text = ("each optimizer at its plugin's **default learning rate** (constant schedule) and every other "
               "hyperparameter at its plugin default" if not bench.lr_grid else
               f"each optimizer's learning rate **tuned** over its default × {{{', '.join(f'{g:g}' for g in bench.lr_grid)}}}: "
               f"one run per grid point with a separate seed ({TUNING_SEED}, never an evaluation seed), the point "
               "with the best validation accuracy kept; every other hyperparameter at its plugin default")
    doc.bullets([
        "architectures (fixed, at their plugins' default hyperparameters): "
        + "; ".join(f"`{a}` ({_params_text(plugin_defaults(registry, 'architecture', a))})" for a in architectures),
        f"optimizers: {', '.join(f'`{o}`' for o in optimizers)} — {lr_text}",
        f"{_seeds_text(bench.seeds)} per optimizer (a seed sets weight initialisation, dropout and "
        f"batch order); one fixed train/validation/test split (split seed {bench.split_seed}); no augmentation",
        f"{bench.epochs} epochs, batch size {bench.batch_size}; "
        + (f"early stopping on val_loss with patience {bench.patience}" if early else
           "early stopping **off** (every run trains all epochs, so the curves align and every optimizer gets the "
           "same budget)")
        + "; the model keeps the weights of its epoch with the lowest val_loss (the trainer's rule)",
        f"ranking metric: `{metric}`"
        + {"test_accuracy": " (test split, scored once per run on the best-val_loss weights; never used for any choice)",
           "val_accuracy": " (validation split, at the epoch with the lowest val_loss)",
           "final_val_accuracy": " (validation split, last epoch)", "val_loss": " (lowest validation loss)"}[metric],
        f"significance: {TESTS[bench.test]} of each optimizer against the one with the best mean, α = {ALPHA}; "
        "“significantly worse” uses the unadjusted p-value, and a Holm-adjusted p-value for the k−1 comparisons "
        "is given beside it. " + _test_rationale(bench.test, bench.seeds),
    ])
    doc.heading("Learning rates")
    rows = []
    for arch in architectures:
        for opt in optimizers:
            entry = outcome.learning_rates[arch][opt]
            grid = ", ".join(f"{g['learning_rate']:.3g}: {format_number(g['val_accuracy'])}" for g in entry["grid"])
            others = {k: v for k, v in plugin_defaults(registry, "optimizer", opt).items()
                      if not k.endswith(".learning_rate")}
            rows.append([f"`{arch}`", f"`{opt}`", _lr_text(entry["learning_rate"]), entry["how"], _params_text(others)]
                        + ([grid or "-"] if bench.lr_grid else []))
    doc.table(["architecture", "optimizer", "learning rate", "how", "other hyperparameters"]
              + (["grid (lr: val_accuracy)"] if bench.lr_grid else []), rows)

    plots = out / "plots"
    for arch in architectures:
        table = outcome.tables[arch]
        doc.heading(f"`{arch}`")
        extra = [m for m in ("val_accuracy", "test_accuracy", "val_loss") if m != metric]
        doc.table(
            ["rank", "optimizer", "learning rate", "n", f"{metric} mean ± std", "median", "min–max",
             f"p vs best ({bench.test})", "p (Holm)", f"significantly worse (p<{ALPHA})",
             *(f"{m} mean" for m in extra), "best epoch mean", "seconds mean", "failed"],
            [[str(r["rank"] or "-"), f"`{r['name']}`", _lr_text(r["learning_rate"]), r["n"],
              format_mean_std(r["mean"], r["std"]), format_number(r["median"]),
              f"{format_number(r['min'])}–{format_number(r['max'])}", format_p(r["p_value"], best=r["is_best"]),
              format_p(r["p_holm"], best=r["is_best"]),
              "—" if r["is_best"] else ("n/a" if r["significantly_worse"] is None else
                                        ("**yes**" if r["significantly_worse"] else "no")),
              *(format_number(r[f"mean_{m}"]) for m in extra), format_number(r["mean_best_epoch"], 1),
              format_number(r["mean_train_seconds"], 1), r["failed"]] for r in table])
        order = [r["name"] for r in table]
        cells = [c for c in outcome.cells if c["architecture"] == arch]
        histories = {opt: [c["history"] for c in cells if c["optimizer"] == opt and c["history"]] for opt in order}
        curves = plots / f"curves_{safe_name(arch)}.png"
        plot_learning_curves(curves, f"{arch} on {bench.data}: learning curves", histories, order)
        scores = plots / f"scores_{safe_name(arch)}.png"
        groups = {r["name"]: r["values"] for r in table}
        plot_scores(scores, f"{arch} on {bench.data}: {metric} per seed", groups, order, metric)
        files += [curves, scores]
        doc.image(f"plots/{curves.name}", f"{arch} learning curves")
        doc.image(f"plots/{scores.name}", f"{arch} {metric} per seed")
    doc.heading("Machine")
    doc.paragraph(", ".join(f"{k} {v}" for k, v in _versions().items())
                  + f". Wall time of this run: {outcome.seconds:.0f} s.")

    columns = ["role", "architecture", "optimizer", "seed", "learning_rate", "status", "val_accuracy",
               "final_val_accuracy", "val_loss", "test_accuracy", "test_loss", "epochs", "best_epoch",
               "train_seconds", "param_count", "reason"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for cell in [*tuning_cells, *outcome.cells]:
        writer.writerow({k: ("" if cell.get(k) is None else cell.get(k)) for k in columns})
    results = {
        "kind": "optimizers", "generated": _now(), "benchmark": asdict(bench), "data": dataset.summary(),
        "architectures": {a: plugin_defaults(registry, "architecture", a) for a in architectures},
        "learning_rates": outcome.learning_rates, "versions": _versions(),
        "tables": {arch: [{k: v for k, v in row.items()} for row in rows] for arch, rows in outcome.tables.items()},
        "cells": outcome.cells, "tuning_cells": tuning_cells,
    }
    atomic_write_json(out / "results.json", json_safe(results))
    atomic_write_text(out / "results.csv", buffer.getvalue())
    atomic_write_text(out / "report.md", doc.to_markdown())
    atomic_write_text(out / "report.html", doc.to_html())
    return [out / "report.md", out / "report.html", out / "results.json", out / "results.csv", *files]


def _seeds_text(seeds: int) -> str:
    return "seed 0" if seeds == 1 else f"seeds 0..{seeds - 1}"


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k.split('.', 1)[1]}={v:g}" if isinstance(v, float) else f"{k.split('.', 1)[1]}={v}"
                     for k, v in params.items()) or "none"


def _test_rationale(test: str, seeds: int) -> str:
    if test == "welch":
        return (f"Welch's t-test is used because with {seeds} seeds per group a rank test cannot reach p < 0.05 "
                "(the smallest two-sided Mann–Whitney p-value for 3 vs 3 is 0.1); it does not assume equal variances, "
                "but it does assume roughly normal scores, so treat small-sample p-values as indicative.")
    return ("Mann–Whitney U makes no normality assumption, but with few seeds it cannot reject at all "
            "(3 vs 3: the smallest two-sided p is 0.1; 5 vs 5: 0.008).") + (
        " With this few seeds no optimizer can be marked significantly worse." if seeds <= 3 else "")


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
        from automl.backends import check_choice

        _check_positive("--seeds", self.seeds, "--seeds 3")
        _check_positive("--trials", self.trials, "--trials 12")
        if self.time_budget is not None and not self.time_budget > 0:
            raise ConfigError(f"--time-budget must be positive; got {self.time_budget} seconds.")
        if self.test not in TESTS:
            raise ConfigError(f"--test must be one of {', '.join(TESTS)}; got {self.test!r}.")
        pairs = [parse_sampler(name) for name in (self.samplers or DEFAULT_SAMPLERS)]
        if not pairs:
            raise ConfigError(f"--samplers lists no sampler; give e.g. {','.join(DEFAULT_SAMPLERS)}.")
        for backend, sampler in pairs:
            check_choice(backend, sampler, self.pruner if backend == "optuna" else None)
        # Optional packages some samplers need: missing ones fail now, not after the other samplers' searches.
        import importlib.util

        for (backend, sampler), package in ((("optuna", "cmaes"), "cmaes"), (("optuna", "gp"), "torch")):
            if (backend, sampler) in pairs and importlib.util.find_spec(package) is None:
                raise ConfigError(f"--samplers {backend}:{sampler} needs the {package!r} package, which is not "
                                  f"installed: pip install {package}, or leave {backend}:{sampler} out.")
        return list(dict.fromkeys(pairs))

    @property
    def target_trials(self) -> int | None:
        return self.trials if self.trials is not None or self.time_budget is not None else DEFAULT_SAMPLER_TRIALS

    def default_out(self) -> str:
        return str(Path("runs") / f"benchmark-samplers-{_data_name(self.data)}")


def parse_sampler(text: str) -> tuple[str, str]:
    """``optuna:tpe`` → ("optuna", "tpe"); a bare name is accepted when one backend alone has it."""
    from automl.backends import SAMPLERS

    every = ", ".join(f"{b}:{s}" for b, names in SAMPLERS.items() for s in names)
    name = text.strip().lower()
    if ":" in name:
        backend, sampler = name.split(":", 1)
        if backend in SAMPLERS and sampler in SAMPLERS[backend]:
            return backend, sampler
        raise ConfigError(f"--samplers: unknown sampler {text!r}; choose from: {every}.")
    owners = [b for b, names in SAMPLERS.items() if name in names]
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

    def __init__(self, display: _Display, label: str, started: float) -> None:
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
        self.display.step(done, f"best {_fmt(best)}")
        if self.quiet:
            self.display.message(f"  {self.label} trial {record.get('trial')} {record.get('status')} objective "
                                 f"{_fmt(record.get('objective'))} at {seconds:.1f} s")

    def message(self, text: str) -> None:
        if not text.startswith("exporting"):  # the search's own export chatter, once per search
            self.display.message(f"  {self.label}: {text}")

    def close(self) -> None:
        pass  # the benchmark's display outlives each search


def run_sampler_benchmark(bench: SamplerBenchmark, *, quiet: bool = False) -> SamplerOutcome:
    """Run (or continue) the sampler benchmark and write its report; see the module docstring."""
    from automl.data import load_dataset
    from automl.plugin_manager import build_registry
    from automl.search_space import OBJECTIVES, SearchSpace

    started = time.perf_counter()
    pairs = bench.validate()
    registry = build_registry(plugins_dir=bench.plugins_dir)
    space = SearchSpace.load(bench.space, registry)
    # Every sampler starts from its own first point: queued configurations would make the first trials equal
    # for the Optuna samplers (and KerasTuner cannot queue them at all).
    space.initial_trials = []
    out = _resolve_out(bench.out or bench.default_out())
    dataset = load_dataset(bench.data, target=bench.target, image_size=bench.image_size, seed=0)
    space.for_task(dataset.task, registry)
    maximize = OBJECTIVES[space.objective] == "maximize"
    identity = {"kind": "samplers", "data": bench.data, "data_fingerprint": dataset.fingerprint,
                "space": json.loads(json.dumps(space.to_dict(), default=str)), "trials": bench.target_trials,
                "time_budget": bench.time_budget, "pruner": bench.pruner}
    _check_same_benchmark(out, identity)
    out.mkdir(parents=True, exist_ok=True)
    lock = _lock(out)
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
    from automl.search_engine import Experiment, search

    jobs = []
    for seed in range(bench.seeds):  # seeds outermost: machine-speed drift hits every sampler alike
        for backend, sampler in pairs:
            spec = {**identity, "backend": backend, "sampler": sampler, "seed": seed}
            name = f"{backend}-{sampler}-seed{seed}"
            path = out / "curves" / f"{name}.json"
            jobs.append((name, spec, path, _read_stored(path, spec)))
    missing = sum(1 for job in jobs if job[3] is None)
    runs, trained, reused = [], 0, 0
    display = _Display(quiet, missing, "searches to run") if missing else None
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
                pruner=bench.pruner if spec["backend"] == "optuna" else None, target=bench.target,
                image_size=bench.image_size, plugins_dir=bench.plugins_dir,
                workers=0, top_k=1,  # in-process for every backend (KerasTuner's only mode): equal footing
                initial_trials=False,
            )
            result = search(experiment=experiment, progress=recorder)
            search_seconds = time.perf_counter() - started
            run = _summarize_run(spec, recorder.events, search_seconds, result.leaderboard_,
                                 maximize=identity["space"]["objective"] != "val_loss")

            stored = {"spec": spec, "result": json_safe(run)}
            atomic_write_json(path, stored)
            runs.append(stored["result"])
            trained += 1
            display.end(f"{number}/{len(jobs)} {label}: best {_fmt(run['final_best'])} after "
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
        "finished_at": _now(),
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
    doc.paragraph(f"{dataset.summary()} (split of seed 0; each search splits with its own seed). Generated {_now()} "
                  f"by `automl benchmark samplers`; {outcome.trained} search(es) run now, {outcome.reused} reused.")
    doc.heading("Setup")
    doc.bullets([
        f"the same search for every sampler: space `{bench.space}` (objective `{objective}`), stopping at {stop}, "
        f"{_seeds_text(bench.seeds)} (a seed sets the split, the sampler and training)",
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
    doc.paragraph(", ".join(f"{k} {v}" for k, v in _versions().items()) + f". Wall time of this run: "
                  f"{outcome.seconds:.0f} s. The search run directories are kept under `runs/`.")

    columns = ["sampler", "seed", "final_best", "time_to_best", "last_trial_seconds", "search_seconds",
               "best_test_accuracy", "complete", "pruned", "failed"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for run in outcome.runs:
        writer.writerow({k: ("" if run.get(k) is None else run.get(k)) for k in columns})
    results = {"kind": "samplers", "generated": _now(), "benchmark": asdict(bench), "objective": objective,
               "versions": _versions(), "table": outcome.table, "runs": outcome.runs}
    atomic_write_json(out / "results.json", json_safe(results))
    atomic_write_text(out / "results.csv", buffer.getvalue())
    atomic_write_text(out / "report.md", doc.to_markdown())
    atomic_write_text(out / "report.html", doc.to_html())
    return [out / "report.md", out / "report.html", out / "results.json", out / "results.csv", curve]


