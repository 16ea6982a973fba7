"""One search, end to end: preflight → backend ask/train/tell loop → leaderboard → best model.

The run directory holds everything needed to resume::

    RUN/config.yaml        the resolved experiment (re-running with other data or space is refused)
    RUN/study.journal      the Optuna backend's storage (Journal file: safe for several local processes)
    RUN/kerastuner/        the KerasTuner backend's storage, instead
    RUN/trials/NNNN/       model.keras for the current top-k trials only
    RUN/leaderboard.csv    rewritten atomically after every trial (and leaderboard.md)
    RUN/test_metrics.json  test-split metrics of the top-k, computed once at the end
    RUN/best/              the best trial exported at the end (.keras + SavedModel, verified, with its
                           model card; see automl.export), swapped in whole

Re-running the same command continues the run: finished trials are kept, a trial interrupted by a
killed process is failed and queued once more, and the loop stops when ``trials`` trials have finished
(complete or pruned).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from automl import leaderboard
from automl.errors import ConfigError, RunDirectoryError
from automl.io import atomic_write_json, atomic_write_text, recover_directory, safe_name

if TYPE_CHECKING:
    import keras
    import pandas as pd

    from automl.data import Dataset

CONFIG_FILE = "config.yaml"
TEST_METRICS_FILE = "test_metrics.json"
DEFAULT_TRIALS = 20
# Changing any of these would mix two different experiments in one study.
IDENTITY_KEYS = ("data", "data_fingerprint", "target", "image_size", "color_mode", "val_fraction", "test_fraction",
                 "space", "backend", "sampler", "pruner", "seed")


@dataclass
class Experiment:
    """Everything that defines a search; the CLI, the Python API and a YAML file all produce one."""

    data: str
    out: str | None = None
    space: str | None = None  # a shipped name or a YAML path; default by task
    trials: int | None = None
    time_budget: float | None = None  # seconds
    seed: int = 0
    backend: str = "optuna"
    sampler: str | None = None  # the backend's default (optuna: tpe, kerastuner: hyperband)
    pruner: str | None = None  # the backend's default (optuna: hyperband, kerastuner: none)
    target: str | None = None
    image_size: tuple[int, int] | None = None
    color_mode: str | None = None
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    skip_corrupt: bool = False
    top_k: int = 3
    max_consecutive_failures: int = 10
    plugins_dir: str | None = None
    strict_plugins: bool = False

    def validate(self) -> None:
        """Check the options and fill in the backend's default sampler and pruner."""
        from automl.backends import check_choice

        self.sampler, self.pruner = check_choice(self.backend, self.sampler, self.pruner)
        if self.trials is not None and self.trials < 1:
            raise ConfigError(f"--trials must be at least 1; got {self.trials}.")
        if self.time_budget is not None and self.time_budget <= 0:
            raise ConfigError(f"--time-budget must be positive; got {self.time_budget} seconds.")
        if self.top_k < 1:
            raise ConfigError(f"top_k must be at least 1; got {self.top_k}.")
        if self.max_consecutive_failures < 1:
            raise ConfigError(f"--max-consecutive-failures must be at least 1; got {self.max_consecutive_failures}.")
        if self.seed < 0:
            raise ConfigError(f"--seed must be >= 0; got {self.seed}.")

    @property
    def target_trials(self) -> int | None:
        """The number of finished trials to reach; None means 'until the time budget ends'."""
        if self.trials is None and self.time_budget is None:
            return DEFAULT_TRIALS
        return self.trials

    def default_out(self) -> str:
        name = self.data.split(":", 1)[1] if self.data.startswith("builtin:") else Path(self.data).stem
        return str(Path("runs") / safe_name(name))


_DURATION = re.compile(r"(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m)?(?:(?P<s>\d+(?:\.\d+)?)s?)?")


def parse_duration(text: str | float | int | None) -> float | None:
    """``90``, ``90s``, ``10m``, ``1h30m`` → seconds."""
    if text is None or isinstance(text, (int, float)):
        return None if text is None else float(text)
    match = _DURATION.fullmatch(text.strip().lower())
    if not text.strip() or match is None:
        raise ConfigError(f"a duration looks like 90, 90s, 10m or 1h30m; got {text!r}.")
    return sum(float(match.group(unit) or 0) * factor for unit, factor in (("h", 3600), ("m", 60), ("s", 1)))


@dataclass
class SearchResult:
    """What a search returns: the leaderboard DataFrame and the best model (loaded on first access)."""

    run_dir: Path
    leaderboard_: pd.DataFrame
    dataset: Dataset | None = field(default=None, repr=False)
    stopped_because: str = ""
    _best_model: keras.Model | None = field(default=None, repr=False)

    @property
    def best_trial_(self) -> int | None:
        ranked = self.leaderboard_[self.leaderboard_["rank"] == 1]
        return None if ranked.empty else int(ranked["trial"].iloc[0])

    @property
    def best_model_(self) -> keras.Model | None:
        if self._best_model is None and (self.run_dir / "best" / "model.keras").exists():
            from automl.export import load_keras_model

            self._best_model = load_keras_model(self.run_dir / "best" / "model.keras")
        return self._best_model


def load_run(run_dir: str | Path) -> SearchResult:
    """Read a run directory (finished or still running) back into a :class:`SearchResult`."""
    from automl.backends import read_records
    from automl.search_space import OBJECTIVES

    run_dir = Path(run_dir)
    config = read_config(run_dir)
    direction = OBJECTIVES[(config.get("space") or {}).get("objective", "val_accuracy")]
    frame = leaderboard.build(read_records(config.get("backend", "optuna"), run_dir), direction,
                              _read_test_metrics(run_dir))
    return SearchResult(run_dir, frame)


def read_config(run_dir: str | Path) -> dict[str, Any]:
    """The resolved experiment of a run directory (its config.yaml)."""
    config_path = Path(run_dir) / CONFIG_FILE
    if not config_path.is_file():
        raise RunDirectoryError(
            f"{run_dir} is not an automl run directory (it has no {CONFIG_FILE}); pass the --out folder of an "
            "automl search."
        )
    return yaml.safe_load(config_path.read_text()) or {}


def resolve_run_dir(out: str | Path) -> Path:
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise RunDirectoryError(f"--out {str(path)!r} is a file; pass a folder for the run.")
    return path


def _config_dict(experiment: Experiment, space_dict: dict[str, Any]) -> dict[str, Any]:
    config = asdict(experiment)
    config["space"] = space_dict
    config["image_size"] = list(experiment.image_size) if experiment.image_size else None
    return config


def _check_same_experiment(run_dir: Path, config: dict[str, Any]) -> None:
    path = run_dir / CONFIG_FILE
    if not path.exists():
        return
    previous = yaml.safe_load(path.read_text()) or {}
    changed = [k for k in IDENTITY_KEYS if previous.get(k) != config.get(k)]  # data_fingerprint: the data changed
    if changed:
        raise RunDirectoryError(
            f"{run_dir} holds a different experiment: {', '.join(changed)} differ from its {CONFIG_FILE}. "
            "Re-run with the same options to resume it, or pass a new --out for a new search."
        )


def search(data: str | None = None, *, experiment: Experiment | None = None, progress=None, quiet: bool = True,
           **options: Any) -> SearchResult:
    """Run (or resume) a search and return its :class:`SearchResult`.

    ``automl.search("builtin:digits", out="runs/digits", trials=12, space="quick")`` is the Python
    equivalent of ``automl search builtin:digits --out runs/digits --trials 12 --space quick``.
    """
    if experiment is None:
        if data is None:
            raise ConfigError("search() needs the data: a path, or builtin:digits / builtin:breast_cancer / builtin:wine.")
        if "time_budget" in options:
            options["time_budget"] = parse_duration(options["time_budget"])
        unknown = set(options) - set(Experiment.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown search option(s) {sorted(unknown)}; allowed: {sorted(Experiment.__dataclass_fields__)}.")
        experiment = Experiment(data=data, **options)
    experiment.validate()
    if progress is None:
        from automl.progress import QuietProgress, RichProgress

        progress = QuietProgress() if quiet else RichProgress()
    return _Search(experiment, progress).run()


class _Search:
    def __init__(self, experiment: Experiment, progress) -> None:
        self.experiment = experiment
        self.progress = progress

    def run(self) -> SearchResult:
        from filelock import FileLock, Timeout

        from automl.data import load_dataset
        from automl.plugin_manager import build_registry
        from automl.search_space import SearchSpace

        exp = self.experiment
        # Cheap checks first: plugins, space, run directory — then the data preflight — then TensorFlow.
        registry = build_registry(plugins_dir=exp.plugins_dir, strict=exp.strict_plugins)
        for problem in registry.problems:
            self.progress.message(f"warning: {problem}")
        run_dir = resolve_run_dir(exp.out or exp.default_out())
        dataset = load_dataset(exp.data, target=exp.target, image_size=exp.image_size, color_mode=exp.color_mode,
                               val_fraction=exp.val_fraction, test_fraction=exp.test_fraction, seed=exp.seed,
                               skip_corrupt=exp.skip_corrupt)
        if dataset.skipped:
            self.progress.message(f"skipped {len(dataset.skipped)} unreadable file(s): {', '.join(dataset.skipped[:5])}"
                                  + (" …" if len(dataset.skipped) > 5 else ""))
        space = SearchSpace.load(exp.space or f"{dataset.task}_default", registry)
        space.for_task(dataset.task, registry)  # fails now, not in trial 0, if nothing fits the task
        config = _config_dict(exp, space.to_dict())
        config["data_fingerprint"] = dataset.fingerprint
        _check_same_experiment(run_dir, config)
        run_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(run_dir / ".lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise RunDirectoryError(
                f"another automl search is running on {run_dir} (its lock file {run_dir / '.lock'} is held); "
                "wait for it to finish or use another --out."
            ) from None
        try:
            atomic_write_text(run_dir / CONFIG_FILE, yaml.safe_dump(config, sort_keys=False))
            return self._loop(run_dir, dataset, space, registry)
        finally:
            lock.release()

    def _loop(self, run_dir: Path, dataset: Dataset, space, registry) -> SearchResult:
        from automl.backends import SamplingFailed, open_backend
        from automl.trainer import COMPLETE, train_candidate

        exp, progress = self.experiment, self.progress
        recover_directory(run_dir / "best")
        backend = open_backend(exp.backend, run_dir, space, registry, dataset.task, sampler=exp.sampler,
                               pruner=exp.pruner, seed=exp.seed, expected_trials=exp.target_trials)
        recovered = backend.recover_interrupted()
        if recovered:
            progress.message(f"resuming: trial(s) {recovered} were interrupted; each is queued once more")
        versions = {e.name: f"{e.source} {e.version}" if e.source != "built-in" else f"built-in {e.version}"
                    for e in registry.all_entries()}
        target = exp.target_trials
        deadline = time.monotonic() + exp.time_budget if exp.time_budget else None
        done = backend.finished_count()
        records = backend.records()
        best = self._best_value(records, space.direction)
        progress.start(target, done, exp.time_budget)
        consecutive_failures = 0
        stopped = "trials reached"
        try:
            while True:
                if target is not None and done >= target:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    stopped = "time budget used"
                    break
                if consecutive_failures >= exp.max_consecutive_failures:
                    stopped = f"{consecutive_failures} trials failed in a row"
                    progress.message(f"stopping: {stopped} (--max-consecutive-failures); see the reasons in the leaderboard")
                    break
                try:
                    handle = backend.ask()
                except SamplingFailed:
                    consecutive_failures += 1
                    self._write_leaderboard(run_dir, backend.records(), space)
                    continue
                progress.trial_started(handle.number, handle.candidate, done)
                trial_seed = exp.seed * 100_003 + handle.number
                result = train_candidate(
                    dataset, handle.candidate, registry, seed=trial_seed, objective=space.objective,
                    reporter=handle.reporter, deadline=deadline,
                    on_epoch=lambda epoch, logs, m=handle.candidate.max_epochs: progress.epoch_end(epoch, m, logs),
                )
                record = {
                    "trial": handle.number, **result.record(), "candidate": handle.candidate.to_dict(),
                    "seed": trial_seed, "data_fingerprint": dataset.fingerprint, "retry_of": handle.retry_of,
                    "plugin_versions": {handle.candidate.architecture: versions[handle.candidate.architecture],
                                        handle.candidate.augmentation: versions[handle.candidate.augmentation],
                                        handle.candidate.optimizer: versions[handle.candidate.optimizer]},
                }
                backend.tell(handle, result, record)
                records = backend.records()
                if result.status == COMPLETE:
                    self._keep_top_models(run_dir, records, space.direction, handle.number, result)
                consecutive_failures = consecutive_failures + 1 if result.status == "failed" else 0
                done = backend.finished_count()
                best = self._best_value(records, space.direction)
                self._write_leaderboard(run_dir, records, space)
                progress.trial_finished(record, done, best)
        except KeyboardInterrupt:
            stopped = "interrupted"
            progress.message("interrupted: finished trials are saved; re-run the same command to resume")
            raise
        finally:
            progress.close()
        test_metrics = self._evaluate_top(run_dir, records, space.direction, dataset)
        frame = self._write_leaderboard(run_dir, records, space, test_metrics)
        self._export_best(run_dir, records, space.direction, dataset)
        return SearchResult(run_dir, frame, dataset, stopped)

    # --- helpers ---------------------------------------------------------------------------------------
    @staticmethod
    def _best_value(records, direction) -> float | None:
        top = leaderboard.ranked(records, direction)
        return top[0]["val_accuracy"] if top else None

    def _write_leaderboard(self, run_dir: Path, records, space, test_metrics=None) -> pd.DataFrame:
        if test_metrics is None:
            test_metrics = _read_test_metrics(run_dir)
        frame = leaderboard.build(records, space.direction, test_metrics)
        leaderboard.write(frame, run_dir)
        return frame

    def _keep_top_models(self, run_dir: Path, records, direction, number: int, result) -> None:
        """Keep model files for the current top-k only (a crash loses none: the new file is in place first)."""
        top = [r["trial"] for r in leaderboard.ranked(records, direction)[: self.experiment.top_k]]
        trials_dir = run_dir / "trials"
        if number in top and result.model is not None:
            path = trials_dir / f"{number:04d}" / "model.keras"
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(".model.tmp.keras")
            result.model.save(tmp)
            os.replace(tmp, path)
        if trials_dir.exists():
            for folder in trials_dir.iterdir():
                if folder.is_dir() and folder.name.isdigit() and int(folder.name) not in top:
                    shutil.rmtree(folder, ignore_errors=True)

    def _evaluate_top(self, run_dir: Path, records, direction, dataset) -> dict[int, dict[str, float]]:
        """Test-split metrics for the top-k, once: the test split never influenced the search."""
        from automl.export import classification_metrics, load_keras_model

        metrics = _read_test_metrics(run_dir)
        for record in leaderboard.ranked(records, direction)[: self.experiment.top_k]:
            number = record["trial"]
            path = run_dir / "trials" / f"{number:04d}" / "model.keras"
            if number in metrics or not path.exists():
                continue
            probabilities = load_keras_model(path).predict(dataset.x_test, batch_size=256, verbose=0)
            scores = classification_metrics(dataset.y_test, probabilities, dataset.class_names)
            metrics[number] = {"accuracy": scores["accuracy"], "loss": scores["loss"]}
        atomic_write_json(run_dir / TEST_METRICS_FILE, {str(k): v for k, v in metrics.items()})
        return metrics

    def _export_best(self, run_dir: Path, records, direction, dataset) -> None:
        """Export the best trial to best/ (verified .keras + SavedModel) unless it is already there."""
        from automl.export import CARD_FILE, FORMATS, SEARCH_FORMATS, export_model, load_keras_model, read_card

        ranked = leaderboard.ranked(records, direction)
        if not ranked:
            return
        record = ranked[0]
        number = record["trial"]
        formats = list(SEARCH_FORMATS)
        if (run_dir / "best" / CARD_FILE).exists():
            card = read_card(run_dir / "best")
            if card.get("trial") == number and card.get("data_fingerprint") == dataset.fingerprint \
                    and set(SEARCH_FORMATS) <= set(card.get("formats", {})):
                return  # a resumed run whose best trial did not change
            # Formats the user added with `automl export` are written again for the new best trial.
            formats += [f for f in card.get("formats", {}) if f in FORMATS and f not in formats
                        and not FORMATS[f].missing_modules()]
        path = run_dir / "trials" / f"{number:04d}" / "model.keras"
        if not path.exists():
            self.progress.message(f"warning: the model of best trial {number} is missing; run automl export --refit")
            return
        self.progress.message(f"exporting trial {number} to {run_dir / 'best'} ({', '.join(formats)})")
        export_model(load_keras_model(path), dataset, run_dir / "best", record=record, formats=formats)


def _read_test_metrics(run_dir: Path) -> dict[int, dict[str, float]]:
    import json

    path = run_dir / TEST_METRICS_FILE
    if not path.exists():
        return {}
    return {int(k): v for k, v in json.loads(path.read_text()).items()}
