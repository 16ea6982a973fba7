"""The ``automl`` command line. Heavy imports (TensorFlow, Optuna, pandas) happen inside commands only,
so ``automl --help`` and ``automl plugins`` stay fast."""

from __future__ import annotations

import inspect
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from automl.errors import AutomlError, ConfigError

# TensorFlow's C++ start-up chatter is noise for our users; real errors still surface as exceptions.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

app = typer.Typer(
    name="automl",
    help="Plugin-based AutoML search for Keras: architectures, augmentations and optimizers as plugins.\n\n"
         "Exit status: 0 done; 1 a search ended without a completed trial (or stopped at "
         "--max-consecutive-failures); 2 a usage or input error (one line: what was wrong and how to fix it); "
         "130 / 143 stopped by Ctrl+C / SIGTERM after a clean stop (re-run the same command to resume).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: rich's markup would read "[default: ...]" as a style tag and drop it, and would print
    # flags as "--json <bool>".
    rich_markup_mode=None,
)


def _show_version(value: bool) -> None:
    if value:
        from automl import __version__

        typer.echo(f"automl {__version__}")
        raise typer.Exit()


@app.callback()
def _main_options(
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Plugin-based AutoML search for Keras."""

PluginsDir = Annotated[Path | None, typer.Option(
    "--plugins-dir", help="Folder of .py plugin files to load.  [default: $AUTOML_PLUGINS_DIR, else none]",
    show_default=False)]
StrictPlugins = Annotated[bool, typer.Option(
    "--strict-plugins", help="Fail when any plugin fails to load, instead of skipping it.")]


def _load_experiment_file(path: Path) -> dict:
    from automl.io import read_yaml_file
    from automl.search_engine import parse_options

    data = read_yaml_file(path, "experiment file (--config)", ConfigError) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: an experiment file is a mapping of options; got {type(data).__name__}.")
    return parse_options(data, where=str(path))


def _echo_json(value) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def _search_parameters() -> list[inspect.Parameter]:
    """``automl search``'s parameters, made from the fields of `automl.search_engine.Experiment`: each option is
    declared there once (type, default, help), and shown here with the default it takes when not typed."""
    from dataclasses import MISSING, fields

    from automl.search_engine import DURATION_OPTIONS, OPTION_KINDS, Experiment, cli_flag

    parameters = []
    for spec in fields(Experiment):
        meta = spec.metadata
        # Annotations built at run time for typer to read: values, not types mypy could check.
        kind: Any
        annotation: Any
        if spec.name == "data":
            annotation = Annotated[str | None, typer.Argument(help=meta["help"], show_default=False)]
        else:
            if spec.name in ("log", "plugins"):
                kind = list[str] | None
            elif meta.get("path"):
                kind = Path | None
            elif spec.name in DURATION_OPTIONS or spec.name == "image_size":
                kind = str | None  # parse_options reads "10m" / "64x64"
            else:
                kind = OPTION_KINDS[spec.name] | None
            shown = meta.get("shown")
            if shown is None:
                shown = "none" if spec.default in (None, MISSING) else str(spec.default)
            declared = [meta.get("flag") or cli_flag(spec.name)]
            annotation = Annotated[kind, typer.Option(*declared, help=f"{meta['help']}  [default: {shown}]",
                                                      metavar=meta.get("metavar"), show_default=False)]
        parameters.append(inspect.Parameter(spec.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                            annotation=annotation))
    parameters += [
        inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
            Path | None, typer.Option(help="YAML experiment file (keys as these options); options typed here "
                                         "override it.  [default: none]", show_default=False)]),
        inspect.Parameter("quiet", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Annotated[
            bool, typer.Option("--quiet", "-q", help="No live display: one log line per trial.")]),
        inspect.Parameter("as_json", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=Annotated[
            bool, typer.Option("--json", help="Print a JSON summary (run directory, best trial, its metrics, why "
                               "the search stopped) instead of the leaderboard.")]),
    ]
    return parameters


def search(*, config: Path | None = None, quiet: bool = False, as_json: bool = False, **typed) -> None:
    """Search architectures, augmentations and optimizers on DATA; re-run the same command to resume.

    Exits 1 when the search ended without a completed trial (every trial failed or was pruned), or stopped at
    --max-consecutive-failures.
    """
    from automl.search_engine import Experiment, parse_options
    from automl.search_engine import search as run_search

    options = _load_experiment_file(config) if config else {}
    typed["log"] = typed.get("log") or None  # typer gives [] for a repeatable option not typed
    # A plugin file given by a relative path is recorded by its absolute one: workers and exports find it from
    # wherever they run.
    typed["plugins"] = [_absolute_file_reference(ref) for ref in typed.get("plugins") or []] or None
    if typed.get("plugins_dir") is not None:
        typed["plugins_dir"] = str(typed["plugins_dir"])
    options.update(parse_options(typed))
    if not options.get("data"):
        raise ConfigError("search needs DATA (e.g. builtin:digits, ./photos, data.csv) or a --config file with 'data'.")
    result = run_search(experiment=Experiment.from_options(options), quiet=quiet)
    frame = result.leaderboard_
    completed = int((frame["status"] == "complete").sum()) if len(frame) else 0
    from automl.run_dir import RunDirectory

    best = RunDirectory(result.run_dir).best
    card = None
    if (best / "model.keras").exists():
        from automl.export import read_card

        card = read_card(best)
    if as_json:
        _echo_json(_search_summary(result, card, completed))
    else:
        _print_leaderboard(frame, limit=10)
        typer.echo(f"\nrun directory: {result.run_dir}  ({result.stopped_because})")
        if card is not None:
            from automl.export import describe_export

            typer.echo(f"best model:    {best / 'model.keras'}  ({describe_export(card)}, {_test_score(card)}; "
                       f"SavedModel: {best / 'saved_model'}; card: {best / 'model_card.json'})")
            typer.echo(f"predict:       automl predict {result.run_dir} IMAGE_OR_CSV ...")
        else:
            typer.echo("best model:    none (no trial completed)")
    failures = "failed in a row" in result.stopped_because
    if not completed or failures:
        why = result.stopped_because if failures else "no trial completed"
        typer.echo(f"error: the search ended without a usable result ({why}); the reasons are in the leaderboard "
                   f"(automl leaderboard {result.run_dir}).", err=True)
        raise typer.Exit(1)


# typer reads the options from the signature; a function's __signature__ is not declared to mypy.
search.__signature__ = inspect.Signature(_search_parameters())  # type: ignore[attr-defined]
app.command()(search)


def _absolute_file_reference(reference: str) -> str:
    path, colon, attribute = reference.partition(":")
    return str(Path(path).resolve()) + colon + attribute if path.endswith(".py") else reference


def _search_summary(result, card: dict | None, completed: int) -> dict:
    """What `automl search --json` prints: where the run is, its best trial and model, and why it stopped."""
    from automl.export import exported_trials
    from automl.leaderboard import to_records
    from automl.run_dir import RunDirectory

    rows = to_records(result.leaderboard_)
    best = next((row for row in rows if row.get("rank") == 1), None)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return {
        "run_dir": str(result.run_dir),
        "stopped_because": result.stopped_because,
        "trials": counts,
        "completed": completed,
        "best_trial": best,
        "best_model": None if card is None else {
            "path": str(RunDirectory(result.run_dir).best / "model.keras"),
            "trials": exported_trials(card),
            "test_metrics": card.get("metrics", {}).get("test"),
            "formats": sorted(card.get("formats", {})),
        },
    }


def _print_leaderboard(frame, limit: int | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    from automl.leaderboard import format_cell, summary_columns

    table = Table(title="leaderboard" + (f" (top {limit} of {len(frame)})" if limit and len(frame) > limit else ""))
    columns = summary_columns(frame)
    for column in columns:
        table.add_column(column, no_wrap=column != "reason", overflow="fold")
    for _, row in (frame.head(limit) if limit else frame).iterrows():
        table.add_row(*(format_cell(row[c]) for c in columns))
    Console(width=max(150, shutil.get_terminal_size().columns)).print(table)


@app.command()
def leaderboard(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by automl search.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of row objects.")] = False,
    top: Annotated[int | None, typer.Option(help="Show only the N best trials.  [default: all]")] = None,
    limit: Annotated[int | None, typer.Option(hidden=True, help="Old name of --top.")] = None,
) -> None:
    """Print the leaderboard of a run (rebuilt from its study storage, so it is exact even mid-run)."""
    from automl.leaderboard import to_records
    from automl.search_engine import load_run

    frame = load_run(run_dir).leaderboard_
    top = top or limit
    if top:
        frame = frame.head(top)
    if as_json:
        typer.echo(json.dumps(to_records(frame), indent=2))
    else:
        _print_leaderboard(frame)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by automl search (finished or running).")],
    out: Annotated[Path | None, typer.Option(help="Folder for the report.  [default: RUN_DIR/report]")] = None,
    top: Annotated[int, typer.Option(help="Best trials whose learning curves are drawn.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was written as JSON.")] = False,
) -> None:
    """Write PNG plots (history, importance, parallel coordinates, learning curves) and report.html of a run."""
    from automl.report import write_report

    result = write_report(run_dir, out_dir=out, top=top)
    if as_json:
        _echo_json({"html": str(result.html), "trials": result.trials, "finished": result.finished,
                    "plots": {name: str(path) for name, path in result.plots.items()}, "notes": dict(result.notes)})
        return
    typer.echo(f"report of {result.trials} trial(s) ({result.finished} finished): {result.html}")
    for path in result.plots.values():
        typer.echo(f"  {path}")
    for name, note in result.notes.items():
        typer.echo(f"  note ({name.replace('_', ' ')}): {note}")


@app.command()
def dashboard(
    run_dir: Annotated[Path, typer.Argument(help="A run directory of the optuna backend.")],
    port: Annotated[int, typer.Option(help="TCP port to serve on.")] = 8080,
    host: Annotated[str, typer.Option(help="Address to listen on (the dashboard has no login: keep it local).")]
    = "127.0.0.1",
) -> None:
    """Open optuna-dashboard on the run's study storage (needs: pip install optuna-dashboard)."""
    from automl.dashboard import serve_dashboard

    serve_dashboard(run_dir, host=host, port=port, announce=typer.echo)


@app.command()
def worker(
    run: Annotated[Path | None, typer.Argument(
        help="The run directory (shared, or a copy of its config.yaml); or leave out and give --storage and "
             "--study.", show_default=False)] = None,
    storage: Annotated[str | None, typer.Option(
        help="The search's database URL (password in $AUTOML_STORAGE_PASSWORD).")] = None,
    study: Annotated[str | None, typer.Option(help="The study name (see the search's config.yaml).")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Where this worker keeps the models of top trials.  [default: RUN, or runs/<study>]")] = None,
    trials: Annotated[int | None, typer.Option(
        help="Leave after this many trials.  [default: when the search has its trials]")] = None,
    max_trials: Annotated[int | None, typer.Option(hidden=True, help="Old name of --trials.")] = None,
    log: Annotated[list[str] | None, typer.Option(
        "--log", metavar="NAME", help="Logger plugin for this worker's trials, writing under --out (repeatable; "
        "none = no logger). Default: the search's loggers.", show_default=False)] = None,
) -> None:
    """Join a running search from this (or another) machine and run its trials until it has enough."""
    from automl.workers import run_worker

    run_worker(run, storage=storage, study=study, out=out, max_trials=trials or max_trials, log=log or None)


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by automl search.")],
    format: Annotated[str | None, typer.Option(
        "--format", help="Comma-separated: keras, saved_model, litert, onnx.  [default: all four]")] = None,
    trial: Annotated[int | None, typer.Option(help="Trial number to export.  [default: the best]")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Export folder.  [default: RUN_DIR/best, or RUN_DIR/exports/trial_NNNN[_refit]]")] = None,
    refit: Annotated[bool, typer.Option(
        "--refit", help="Retrain the trial on train + validation for its best epoch count first.")] = False,
    data: Annotated[str | None, typer.Option(
        help="Where the run's data are now, if they moved (they must be the same data).")] = None,
    ensemble: Annotated[int | None, typer.Option(
        help="Export the average of the best K trials' class probabilities.  [default: the search's --ensemble]")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the export folder, formats and checks as JSON.")]
    = False,
) -> None:
    """Export a trial's model; every format is reloaded with its own runtime and checked against Keras."""
    from automl.export import describe_export, export_run, exported_trials

    folder, card = export_run(run_dir, formats=format, trial=trial, out=out, refit=refit, data=data,
                              ensemble=ensemble, progress=lambda message: typer.echo(message, err=True))
    test = card["metrics"]["test"]
    if as_json:
        _echo_json({"folder": str(folder), "trials": exported_trials(card), "refit": refit,
                    "formats": {name: str(folder / entry["path"]) for name, entry in card["formats"].items()},
                    "verification": card["verification"], "test_metrics": test,
                    "card": str(folder / "model_card.json")})
        return
    typer.echo(f"exported {describe_export(card)}{' (refit)' if refit else ''} to {folder}")
    for name, check in card["verification"].items():
        agreement = (f"argmax agreement {check['argmax_agreement']:.0%}, max |Δp| {check['max_abs_difference']:.2g}"
                     if "argmax_agreement" in check else f"max |Δ| {check['max_abs_difference']:.2g} "
                     f"({check['max_relative_difference']:.2g} of the largest value)")
        typer.echo(f"  {name:<12} {card['formats'][name]['path']:<14} verified on {check['samples']} validation "
                   f"samples: {agreement}")
    scores = (f"test accuracy {test['accuracy']:.4f}, macro F1 {test['macro_f1']:.4f}" if "accuracy" in test
              else _test_score(card))
    typer.echo(f"  {scores}; card: {folder / 'model_card.json'}")


def _test_score(card: dict) -> str:
    """The exported model's test score as the summary lines say it: accuracy, or regression's RMSE and MAE."""
    test = card["metrics"]["test"]
    if "accuracy" in test:
        return f"test accuracy {test['accuracy']:.4f}"
    return f"test RMSE {test['rmse']:.4g}, MAE {test['mae']:.4g}"


@app.command()
def predict(
    model: Annotated[Path, typer.Argument(help="A run directory (uses its best/) or an export folder.")],
    inputs: Annotated[list[Path], typer.Argument(
        help="Image files or folders (searched recursively), or a .csv / .npz file.", show_default=False)],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Write the predictions to this CSV instead of printing them.  [default: print them]")]
    = None,
    top_classes: Annotated[int, typer.Option(help="Also give the 2nd..K-th most likely classes (classification).")]
    = 1,
    output: Annotated[Path | None, typer.Option("--output", hidden=True, help="Old name of --out.")] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", hidden=True, help="Old name of --top-classes.")] = None,
    format: Annotated[str, typer.Option(
        "--format", help="Which exported format runs the prediction: keras, saved_model, litert, onnx.")] = "keras",
) -> None:
    """Predict classes (or, for a regression model, values) for new inputs, read exactly as the training data were
    (from the model card)."""
    from automl.io import atomic_write_text
    from automl.predict import load_predictor

    predictor = load_predictor(model, format=format)
    frame = predictor.predict(inputs, top_k=top_k or top_classes)
    text = frame.to_csv(index=False, float_format="%.6f")
    output = out or output
    if output is None:
        typer.echo(text, nl=False)
    else:
        atomic_write_text(output, text)
        typer.echo(f"{len(frame)} prediction(s) written to {output}", err=True)


@app.command()
def plugins(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of plugin objects.")] = False,
    plugins_dir: PluginsDir = None,
    strict_plugins: StrictPlugins = False,
) -> None:
    """List every installed plugin: name, family, tasks, source and hyperparameters (a backend: its samplers
    and pruners, the default first)."""
    from automl.backends import BACKEND, find_backend
    from automl.hp import declared_params
    from automl.plugin_manager import build_registry

    registry = build_registry(plugins_dir=plugins_dir, strict=strict_plugins)
    rows: list[dict[str, Any]] = []
    for entry in registry.all_entries() + registry.logger_entries() + registry.backend_entries():
        params = declared_params(entry.plugin)
        row: dict[str, Any] = {
            "name": entry.name, "family": entry.family, "tasks": list(entry.plugin.tasks),
            "source": entry.source, "version": entry.version, "description": entry.plugin.description,
            "hyperparameters": {p.name.split(".", 1)[1]: p.describe() for p in params},
        }
        if entry.family == BACKEND:
            backend = find_backend(registry, entry.name)
            row.update(samplers=list(backend.samplers), pruners=list(backend.pruners))
        rows.append(row)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{len(rows)} plugins")
        for column in ("family", "name", "tasks", "source", "hyperparameters"):
            table.add_column(column, overflow="fold")
        for row in rows:
            hps = "; ".join(f"{k}: {v}" for k, v in row["hyperparameters"].items())
            if "samplers" in row:
                hps = f"samplers: {', '.join(row['samplers'])}; pruners: {', '.join(row['pruners'])}"
            table.add_row(row["family"], row["name"], ",".join(row["tasks"]), row["source"], hps)
        Console().print(table)
    for problem in registry.problems:
        typer.echo(f"warning: {problem}", err=True)


@app.command()
def spaces(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of space objects.")] = False,
) -> None:
    """List the shipped search spaces."""
    import yaml

    from automl.search_space import builtin_spaces

    rows = [{"name": name, "path": str(path),
             "description": " ".join(((yaml.safe_load(path.read_text()) or {}).get("description") or "").split())}
            for name, path in sorted(builtin_spaces().items())]
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        typer.echo(f"{row['name']:<16} {row['description']}")


@app.command("new-plugin")
def new_plugin(
    family: Annotated[str, typer.Argument(help="architecture | augmentation | optimizer | logger",
                                          show_default=False)],
    name: Annotated[str, typer.Argument(help="The plugin's name: lowercase letters, digits and underscores.",
                                        show_default=False)],
    directory: Annotated[Path | None, typer.Option(
        "--dir", help="Folder to create (new or empty).  [default: ./NAME]", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the folder, files and next steps as JSON.")] = False,
) -> None:
    """Write a plugin package to start from: pyproject.toml with its entry point, a working plugin, its contract
    test, a README and (for searched families) a search space that uses it."""
    from automl.scaffold import new_plugin as write_package

    scaffold = write_package(family, name, directory)
    if as_json:
        _echo_json({"folder": str(scaffold.folder), "distribution": scaffold.distribution,
                    "package": scaffold.package, "files": list(scaffold.files), "next": scaffold.next_steps()})
        return
    typer.echo(f"wrote {scaffold.distribution} ({family} plugin {name!r}) in {scaffold.folder}:")
    for file in scaffold.files:
        typer.echo(f"  {file}")
    typer.echo("next:")
    for step in scaffold.next_steps():
        typer.echo(f"  {step}")


benchmark_app = typer.Typer(
    help="Measured comparisons: optimizer plugins on fixed architectures, samplers on one search.",
    no_args_is_help=True,
)
app.add_typer(benchmark_app, name="benchmark")
BenchmarkData = Annotated[str, typer.Argument(
    help="builtin:digits | an image folder | a .csv | a .npz", show_default=False)]
BenchmarkSeeds = Annotated[int, typer.Option(help="Runs per optimizer / sampler, with seeds 0..K-1.")]
BenchmarkTest = Annotated[str, typer.Option(
    "--test", help="Significance test against the best: welch (Welch's t-test) | mannwhitney.")]
BenchmarkQuiet = Annotated[bool, typer.Option("--quiet", "-q", help="No live display: one log line per run.")]
BenchmarkTarget = Annotated[str | None, typer.Option(help="Target column of a CSV.")]
BenchmarkImageSize = Annotated[str | None, typer.Option(help="Resize images to HEIGHTxWIDTH (e.g. 64x64).")]


def _benchmark_out(command: str) -> Any:
    """``automl benchmark COMMAND``'s ``--out``, whose default folder is named after the command."""
    return typer.Option(help=f"Output folder; re-running the same command continues it. (default: "
                             f"runs/benchmark-{command}-<data>)")


@benchmark_app.command("optimizers")
def benchmark_optimizers(
    data: BenchmarkData,
    architectures: Annotated[str | None, typer.Option(
        help="Comma-separated architectures, each at its default hyperparameters. (default: cnn,mlp for images, "
             "mlp for tables)")] = None,
    optimizers: Annotated[str | None, typer.Option(
        help="Comma-separated optimizer plugins. (default: every installed one)")] = None,
    seeds: BenchmarkSeeds = 3,
    epochs: Annotated[int, typer.Option(help="Epochs per run.")] = 20,
    batch_size: Annotated[int, typer.Option(help="Batch size of every run.")] = 64,
    patience: Annotated[int | None, typer.Option(
        help="Early stopping patience on val_loss. (default: off, every run trains all epochs)")] = None,
    metric: Annotated[str, typer.Option(
        help="Ranking metric: test_accuracy | val_accuracy | final_val_accuracy | val_loss.")] = "test_accuracy",
    test: BenchmarkTest = "welch",
    lr_grid: Annotated[str | None, typer.Option(
        help="Tune each learning rate over these multipliers of its default, e.g. 0.3,1,3 (on validation "
             "accuracy, with a separate seed). (default: the plugin's default learning rate)")] = None,
    out: Annotated[str | None, _benchmark_out("optimizers")] = None,
    target: BenchmarkTarget = None,
    image_size: BenchmarkImageSize = None,
    plugins_dir: PluginsDir = None,
    quiet: BenchmarkQuiet = False,
) -> None:
    """Train every optimizer × seed on fixed architectures; table with significance tests, plots and a report."""
    from automl.benchmark import OptimizerBenchmark, parse_lr_grid, parse_names, run_optimizer_benchmark
    from automl.search_engine import parse_image_size

    bench = OptimizerBenchmark(
        data=data, out=out, architectures=parse_names(architectures), optimizers=parse_names(optimizers),
        seeds=seeds, epochs=epochs, batch_size=batch_size, patience=patience, metric=metric, test=test,
        lr_grid=parse_lr_grid(lr_grid), target=target, image_size=parse_image_size(image_size),
        plugins_dir=str(plugins_dir) if plugins_dir else None)
    outcome = run_optimizer_benchmark(bench, quiet=quiet)
    for architecture, rows in outcome.tables.items():
        _print_benchmark_table(f"{architecture}: {metric} over {seeds} seed(s), p-values: {test}", rows,
                               ["rank", "optimizer", "learning rate", "n", "mean ± std", "median", "p vs best",
                                "p (Holm)", "significantly worse"],
                               lambda r: [r["learning_rate"]])
    _print_benchmark_footer(outcome, "cells")


@benchmark_app.command("samplers")
def benchmark_samplers(
    data: BenchmarkData,
    samplers: Annotated[str | None, typer.Option(
        help="Comma-separated backend:sampler names. (default: optuna:tpe,optuna:random,optuna:cmaes,"
             "kerastuner:hyperband,kerastuner:bayesian)")] = None,
    seeds: BenchmarkSeeds = 3,
    trials: Annotated[int | None, typer.Option(
        help="Finished trials per search. (default: 12, or unlimited with --time-budget)")] = None,
    time_budget: Annotated[str | None, typer.Option(help="Wall-clock budget per search, e.g. 90s, 5m.")] = None,
    space: Annotated[str, typer.Option(help="quick | image_default | photo_default | tabular_default | a .yaml path.")] = "quick",
    pruner: Annotated[str | None, typer.Option(
        help="Pruner of the Optuna samplers. (default: hyperband)")] = None,
    test: BenchmarkTest = "welch",
    out: Annotated[str | None, _benchmark_out("samplers")] = None,
    target: BenchmarkTarget = None,
    image_size: BenchmarkImageSize = None,
    plugins_dir: PluginsDir = None,
    quiet: BenchmarkQuiet = False,
) -> None:
    """Run the same short search with each sampler; best-so-far vs wall-time curves, table and report."""
    from automl.benchmark import SamplerBenchmark, parse_names, run_sampler_benchmark
    from automl.search_engine import parse_duration, parse_image_size

    bench = SamplerBenchmark(
        data=data, out=out, samplers=parse_names(samplers), seeds=seeds, trials=trials,
        time_budget=parse_duration(time_budget), space=space, pruner=pruner, test=test, target=target,
        image_size=parse_image_size(image_size), plugins_dir=str(plugins_dir) if plugins_dir else None)
    outcome = run_sampler_benchmark(bench, quiet=quiet)
    _print_benchmark_table(f"samplers: final best over {seeds} seed(s), p-values: {test}", outcome.table,
                           ["rank", "sampler", "n", "mean ± std", "median", "p vs best", "p (Holm)",
                            "significantly worse", "time to best (s)"],
                           lambda r: [], lambda r: [r["mean_time_to_best"]])
    _print_benchmark_footer(outcome, "searches")


def _print_benchmark_table(title: str, rows: list[dict], columns: list[str], before=lambda r: [],
                           after=lambda r: []) -> None:
    from rich.console import Console
    from rich.table import Table

    from automl.benchmark.document import format_mean_std, format_number, format_p

    table = Table(title=title)
    for column in columns:
        table.add_column(column, no_wrap=True)
    for r in rows:
        worse = "—" if r["is_best"] else {None: "n/a", True: "yes", False: "no"}[r["significantly_worse"]]
        cells = [str(r["rank"] or "-"), r["name"], *(f"{v:.3g}" if v is not None else "-" for v in before(r)),
                 str(r["n"]),
                 format_mean_std(r["mean"], r["std"]), format_number(r["median"]),
                 format_p(r["p_value"], best=r["is_best"]), format_p(r["p_holm"], best=r["is_best"]), worse,
                 *(format_number(v, 1) for v in after(r))]
        table.add_row(*cells)
    Console(width=max(120, shutil.get_terminal_size().columns)).print(table)


def _print_benchmark_footer(outcome, unit: str) -> None:
    done = outcome.trained + outcome.reused
    typer.echo(f"{done} {unit} done: {outcome.trained} run now, {outcome.reused} reused from {outcome.out} "
               f"({outcome.seconds:.0f} s)")
    typer.echo(f"report:  {outcome.out / 'report.md'}  (also report.html, results.json, results.csv, plots/)")


def main() -> None:
    """Console entry point.

    * an AutomlError (bad input, unreadable file, unreachable storage) → a one-line message, exit status 2, no
      traceback;
    * SIGINT (Ctrl+C) or SIGTERM → the command stops cleanly (finished work is kept; a search resumes when run
      again) and exits 130 or 143 (128 + the signal's number, as shells report it).
    """
    import warnings

    from automl.errors import StorageRepairedWarning
    from automl.signals import stop_on_signals

    def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, StorageRepairedWarning):
            typer.echo(f"warning: {message}", err=True)
        else:
            shown(message, category, filename, lineno, file, line)

    shown, warnings.showwarning = warnings.showwarning, show_warning
    try:
        with stop_on_signals():
            app()
    except AutomlError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except SystemExit as exiting:
        stop = _interruption(exiting)
        if stop is None:
            raise
        typer.echo(f"stopped by {stop.signal_name}", err=True)
        sys.exit(stop.exit_status)


def _interruption(exc: BaseException):
    """The :class:`automl.errors.Interrupted` behind an exit (typer turns a KeyboardInterrupt into exit 130)."""
    from automl.errors import Interrupted

    seen: set[int] = set()
    link: BaseException | None = exc  # along the chain of causes and contexts
    while link is not None and id(link) not in seen:
        if isinstance(link, Interrupted):
            return link
        seen.add(id(link))
        link = link.__cause__ or link.__context__
    return None


if __name__ == "__main__":
    main()
