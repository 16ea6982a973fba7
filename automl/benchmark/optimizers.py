"""``automl benchmark optimizers``: every optimizer plugin x seeds on fixed architectures, through the real
trainer."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.benchmark.common import (
    CONFIG_FILE,
    DEFAULT_ARCHITECTURES,
    METRICS,
    TUNING_SEED,
    Display,
    check_plugin_names,
    check_positive,
    check_same_benchmark,
    data_name,
    lock_folder,
    now_text,
    read_stored,
    resolve_out,
    score_text,
    seeds_text,
    spec_key,
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
    plot_learning_curves,
    plot_scores,
    summarize,
)
from automl.errors import ConfigError
from automl.io import atomic_write_json, atomic_write_text, safe_name
from automl.leaderboard import is_finite_number

if TYPE_CHECKING:
    from automl.data import Dataset
    from automl.plugin_manager import Registry
    from automl.search_space import Candidate

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

        check_positive("--seeds", self.seeds, "--seeds 3")
        check_positive("--epochs", self.epochs, "--epochs 20")
        check_positive("--batch-size", self.batch_size, "--batch-size 64")
        check_positive("--patience", self.patience, f"--patience 4, or leave it out to train all {self.epochs} epochs")
        if self.metric not in METRICS:
            raise ConfigError(f"--metric must be one of {', '.join(METRICS)}; got {self.metric!r}.")
        if self.test not in TESTS:
            raise ConfigError(f"--test must be one of {', '.join(TESTS)}; got {self.test!r}.")
        if self.lr_grid is not None and (not self.lr_grid or any(v <= 0 for v in self.lr_grid)):
            raise ConfigError(f"--lr-grid takes positive multipliers such as 0.3,1,3; got {self.lr_grid!r}.")

    def default_out(self) -> str:
        return str(Path("runs") / f"benchmark-optimizers-{data_name(self.data)}")


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
    check_plugin_names(registry, "architecture", bench.architectures, "--architectures")
    check_plugin_names(registry, "optimizer", bench.optimizers, "--optimizers")
    out = resolve_out(bench.out or bench.default_out())
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
    check_same_benchmark(out, identity)
    out.mkdir(parents=True, exist_ok=True)
    lock = lock_folder(out)
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
            path = cells_dir / f"{role}-{arch}-{opt}-seed{seed}-{spec_key(spec)}.json"
            jobs.append((path, spec, candidate, read_stored(path, spec)))
        missing = sum(1 for job in jobs if job[3] is None)
        display = Display(self.quiet, missing, f"{unit} to train") if missing else None
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

    def _train(self, path: Path, spec: dict[str, Any], candidate: Candidate, display: Display,
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
            "finished_at": now_text(),
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
        display.end(f"{position} {label}: {result.status} {what} {score_text(shown)} val_loss {score_text(cell['val_loss'])} "
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
    doc.paragraph(f"{dataset.summary()}. Generated {now_text()} by `automl benchmark optimizers`; "
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
        f"{seeds_text(bench.seeds)} per optimizer (a seed sets weight initialisation, dropout and "
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
    doc.paragraph(", ".join(f"{k} {v}" for k, v in versions().items())
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
        "kind": "optimizers", "generated": now_text(), "benchmark": asdict(bench), "data": dataset.summary(),
        "architectures": {a: plugin_defaults(registry, "architecture", a) for a in architectures},
        "learning_rates": outcome.learning_rates, "versions": versions(),
        "tables": {arch: [{k: v for k, v in row.items()} for row in rows] for arch, rows in outcome.tables.items()},
        "cells": outcome.cells, "tuning_cells": tuning_cells,
    }
    atomic_write_json(out / "results.json", json_safe(results))
    atomic_write_text(out / "results.csv", buffer.getvalue())
    atomic_write_text(out / "report.md", doc.to_markdown())
    atomic_write_text(out / "report.html", doc.to_html())
    return [out / "report.md", out / "report.html", out / "results.json", out / "results.csv", *files]


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
