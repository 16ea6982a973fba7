"""One search, end to end: preflight → backend ask/train/tell loop → leaderboard → best model.

The run directory (its layout: :mod:`automl.run_dir`) holds everything needed to resume: the resolved
experiment (re-running with other data or space is refused), the study, the top-k trials' models, the
leaderboard rewritten after every trial, the test metrics of the top-k computed once at the end, and the best
model (by default the top three trials averaged: --ensemble) exported at the end, verified and swapped in
whole (automl.export); beside them, what the selected logger plugins write (automl.lifecycle).

Re-running the same command continues the run: finished trials are kept, a trial interrupted by a
killed process is failed and queued once more, and the loop stops when ``trials`` trials have finished
(complete or pruned).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, SupportsInt, cast

import yaml

from automl import leaderboard
from automl.class_weights import NONE, check_class_weight
from automl.errors import ConfigError, RunDirectoryError
from automl.events import Message, TrialEpoch, TrialEvent, TrialFinished, TrialStarted
from automl.io import atomic_write_json, atomic_write_text, recover_directory, safe_name
from automl.objectives import (
    DEFAULT_OBJECTIVE,
    DEFAULT_REGRESSION_OBJECTIVE,
    PROBLEMS,
    REGRESSION,
    check_objective,
    default_objective,
    direction,
    objective_names,
    prediction_scores,
    problem_of,
)
from automl.result import SearchResult, load_run  # noqa: F401 - load_run: also importable from here
from automl.run_dir import CONFIG_FILE, RunDirectory, read_config, read_test_metrics

if TYPE_CHECKING:
    import pandas as pd

    from automl.backends import SearchBackend
    from automl.data import Dataset, DatasetsBySize
    from automl.plugin_manager import Registry
    from automl.search_space import Constraints, SearchSpace

DEFAULT_TRIALS = 20
# best/ averages this many of the best trials unless --ensemble says otherwise (at most --top-k): on
# digits it raised the exported model's test accuracy from 0.985 to 0.996 (benchmarks/RESULTS.md).
DEFAULT_ENSEMBLE = 3
# Changing any of these would mix two different experiments in one study.
# objective and class_weight are the effective ones (the space's, or --objective / --class-weight over it).
IDENTITY_KEYS = ("data", "data_fingerprint", "target", "task", "image_size", "color_mode", "val_fraction", "test_fraction",
                 "space", "objective", "class_weight", "backend", "sampler", "pruner", "seed", "storage", "study")


def _option(default: Any, help: str, shown: str | None = None, **cli: Any) -> Any:
    """A search option: its default, and its help for ``automl search --help`` (``shown``: the default as said
    there, when the value alone does not say it; ``cli``: flag names or a metavar, see `automl.cli`)."""
    return field(default=default, metadata={"help": help, "shown": shown, **cli})


@dataclass
class Experiment:
    """Everything that defines a search; the CLI, the Python API and a YAML file all produce one.

    Each option is declared here once, with its help: ``automl search`` builds its options from these fields,
    and `parse_options` reads them from the command line, a YAML file or Python values.
    """

    data: str = field(metadata={"help": "builtin:digits | builtin:breast_cancer | builtin:wine | an image folder | "
                                        "a .csv | a .npz"})
    out: str | None = _option(None, "Run directory.", "runs/<data name>")
    space: str | None = _option(None, "quick | image_default | photo_default | tabular_default | a .yaml path.",
                                "by the data: photo_default for images of 32 px a side or more, image_default for "
                                "smaller ones, tabular_default for tables")
    objectives: str | None = _option(None, "Two objectives, OBJECTIVE,SECOND (e.g. val_accuracy,latency_ms): the tpe "
                                     "sampler searches both, and prunes on the first only trials that a trial no "
                                     "larger or slower beats; SECOND (latency_ms | param_count) is measured for "
                                     "every trial and the leaderboard marks the Pareto front of the two.", "none")
    objective: str | None = _option(None, "What ranks the trials, on the validation split: "
                                    f"{' | '.join(objective_names())} (classification); "
                                    f"{' | '.join(objective_names(REGRESSION))} (regression); replaces the space's "
                                    "objective.", f"the space's: {DEFAULT_OBJECTIVE}; regression: "
                                    f"{DEFAULT_REGRESSION_OBJECTIVE} unless the space names a regression objective")
    # "balanced", "none", or (Python / a --config file) a mapping label -> weight (automl.class_weights)
    class_weight: str | dict[str, float] | None = _option(
        None, "balanced: each class weighs the same in the training loss (n_samples / (n_classes x its count)); "
        "none: every sample the same; replaces the space's training.class_weight.", "the space's: none")
    trials: int | None = _option(None, "Finished trials to reach.", "20, or unlimited with --time-budget")
    time_budget: float | None = _option(None, "Stop cleanly after this long, e.g. 90s, 10m, 1h.",
                                        "none: --trials decides")
    seed: int = _option(0, "Seed for splits, sampler and training.")
    max_params: int | None = _option(None, "Deployment limit: a trial whose model has more parameters is pruned before "
                                     "it trains; the export meets it (the space's training.max_params).", "none")
    max_latency_ms: float | None = _option(None, "Deployment limit: a trial whose batch-1 prediction takes longer "
                                           "(measured after its first epoch, on this machine) is pruned; the export "
                                           "meets it (training.max_latency_ms).", "none")
    backend: str = _option("optuna", "The search backend plugin: optuna | kerastuner, or an installed one "
                                     "(automl plugins lists them).")
    sampler: str | None = _option(None, "optuna: tpe | random | cmaes | gp; kerastuner: hyperband | bayesian | random; "
                                  "another backend: its own (automl plugins).", "the backend's first: tpe (optuna), "
                                  "hyperband (kerastuner)")
    pruner: str | None = _option(None, "optuna: hyperband | successive-halving | median | none; kerastuner: none.",
                                 "the backend's first: hyperband (optuna), none (kerastuner)")
    target: str | None = _option(None, "Target column of a CSV (required for a CSV).", "none")
    task: str | None = _option(None, "classification | regression: what the target is (e.g. classification for "
                               "integer-coded classes).", "detected: a numeric target with a non-integer value or more "
                               "than 20 distinct values is regression")
    image_size: tuple[int, int] | None = _option(None, "Resize images to HEIGHTxWIDTH (e.g. 64x64).",
                                                 "chosen from the data and printed; never upscaled")
    color_mode: str | None = _option(None, "grayscale | rgb", "detected")
    val_fraction: float = _option(0.15, "Validation share.")
    test_fraction: float = _option(0.15, "Test share, never used by the search.")
    skip_corrupt: bool = _option(False, "Skip unreadable images (they are listed) instead of failing.", "off",
                                 flag="--skip-corrupt")
    top_k: int = _option(3, "Trials whose models are kept and tested.")
    # best/ averages the top-K trials' probabilities; K <= top_k (None: DEFAULT_ENSEMBLE, or top_k when fewer)
    ensemble: int | None = _option(None, "Export the average of the best K trials' class probabilities as the best "
                                   "model (K <= --top-k); 1 = the best trial alone.", str(DEFAULT_ENSEMBLE))
    initial_trials: bool = _option(True, "Try the space's known-good configurations (its initial_trials) first; "
                                   "--no-initial-trials leaves every trial to the sampler.", "on",
                                   flag="--initial-trials/--no-initial-trials")
    max_consecutive_failures: int = _option(10, "Stop after this many failed trials in a row (the search then "
                                            "exits 1).")
    plugins_dir: str | None = _option(None, "Folder of .py plugin files to load.", "$AUTOML_PLUGINS_DIR, else none",
                                      path=True)
    strict_plugins: bool = _option(False, "Fail when any plugin fails to load, instead of skipping it.", "off",
                                   flag="--strict-plugins")
    # Plugins of this search only, as import references (automl.plugin_manager.import_plugin); the Python API
    # records the objects given to plugins=[...] here.
    plugins: list[str] | None = _option(None, "A plugin module or object for this search only, as pkg.module, "
                                        "pkg.module:NAME or path/to/file.py[:NAME] (repeatable); workers and automl "
                                        "export load it too.", "none", flag="--plugin", metavar="REF")
    # --- where trials run (automl.workers) and where the study lives (automl.storage) ---
    workers: int = _option(1, "Worker processes running trials (isolated: a crash fails one trial). 0 = in this "
                           "process.")
    storage: str | None = _option(None, "Database URL shared with `automl worker` on other machines, e.g. "
                                  "postgresql://user@host/db (password in $AUTOML_STORAGE_PASSWORD).",
                                  "RUN/study.journal")
    study: str | None = _option(None, "Study name in a shared --storage.", "the run directory's name")
    trial_timeout: float | None = _option(None, "Kill and fail a trial running longer than this, e.g. 90s, 10m.",
                                          "no limit")
    max_retries: int = _option(1, "Retries of a trial whose worker died (killed, out of memory, crashed).")
    recycle_after: int | None = _option(50, "Replace each worker after this many trials, bounding its memory.")
    threads_per_worker: int | None = _option(None, "TensorFlow threads per worker.", "1 with several workers, else all")
    worker_memory_limit: int | None = _option(None, "MB of memory per worker; a trial allocating more fails, the "
                                              "search goes on.", "no limit")
    checkpoint_every: float = _option(30.0, "Checkpoint a running trial this often (0 = every epoch); an "
                                      "interrupted trial resumes from its last checkpoint.", "30s")
    # Recorded in config.yaml, not part of the identity (automl.keras_backend).
    keras_backend: str | None = _option(None, "tensorflow | jax: the Keras backend the trials train on (jax must be "
                                        "installed: the jax extra); the export stays on TensorFlow.",
                                        "$KERAS_BACKEND, else tensorflow")
    # --- logger plugins told about every trial (automl.lifecycle); not part of the run's identity ---
    # None: the ones the resumed run had (or none); [] / "none": none
    log: list[str] | None = _option(None, "Log every trial with this logger plugin (repeatable): tensorboard "
                                    "(RUN/tensorboard), mlflow (needs the mlflow extra), or one from `automl "
                                    "plugins`; none = no logger.", "on a resume, the run's loggers; else none",
                                    metavar="NAME")

    @classmethod
    def from_options(cls, options: Mapping[str, Any], where: str = "") -> Experiment:
        """An experiment from options given as Python values, command-line strings or a YAML file's mapping
        (see `parse_options`); call `validate` for the rules between options."""
        values = parse_options(options, where)
        if not values.get("data"):
            raise ConfigError(f"{where + ': ' if where else ''}a search needs its data: builtin:digits / "
                              "builtin:breast_cancer / builtin:wine, an image folder, a .csv or an .npz (or arrays / "
                              "a DataFrame from Python).")
        return cls(**values)

    def validate(self) -> None:
        """Check the options on their own and between each other (the backend's own rules: `choose_backend`)."""
        if self.trials is not None and self.trials < 1:
            raise ConfigError(f"--trials must be at least 1; got {self.trials}.")
        if self.objective is not None:  # of any problem here; checked against the data's once it is loaded
            check_objective(self.objective, "--objective", ConfigError, None)
        if self.task is not None and self.task not in PROBLEMS:
            raise ConfigError(f"--task must be one of {' | '.join(PROBLEMS)} (or unset to detect it); got {self.task!r}.")
        if self.time_budget is not None and self.time_budget <= 0:
            raise ConfigError(f"--time-budget must be positive; got {self.time_budget} seconds.")
        if self.top_k < 1:
            raise ConfigError(f"top_k must be at least 1; got {self.top_k}.")
        if self.ensemble is None:
            self.ensemble = min(DEFAULT_ENSEMBLE, self.top_k)
        if not 1 <= self.ensemble <= self.top_k:
            raise ConfigError(f"--ensemble must be between 1 and --top-k ({self.top_k}: the trials whose models are "
                              f"kept); got {self.ensemble}. Raise --top-k to average more trials.")
        if self.max_consecutive_failures < 1:
            raise ConfigError(f"--max-consecutive-failures must be at least 1; got {self.max_consecutive_failures}.")
        if self.seed < 0:
            raise ConfigError(f"--seed must be >= 0; got {self.seed}.")
        if self.workers < 0:
            raise ConfigError(f"--workers must be 0 (trials in this process) or more; got {self.workers}.")
        for name in ("trial_timeout", "recycle_after", "threads_per_worker", "worker_memory_limit", "max_params",
                     "max_latency_ms"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive; got {value}.")
        if self.checkpoint_every < 0:
            raise ConfigError(f"--checkpoint-every must be 0 (every epoch) or more; got {self.checkpoint_every}.")
        if self.max_retries < 0:
            raise ConfigError(f"--max-retries must be 0 or more; got {self.max_retries}.")
        if self.storage is not None:
            from automl.storage import StorageSpec

            StorageSpec.for_run(Path("."), self.storage)  # the URL's form only; connecting comes later
        if self.study is not None and safe_name(self.study) != self.study:
            raise ConfigError(f"--study may hold letters, digits, '.', '_' and '-' only; got {self.study!r} "
                              f"(e.g. {safe_name(self.study)!r}).")
        from automl.lifecycle import normalize_logger_names

        self.log = normalize_logger_names(self.log)
        from automl import keras_backend

        self.keras_backend = keras_backend.resolve(self.keras_backend)  # jax requested but not installed: here

    def choose_backend(self, registry: Registry) -> SearchBackend:
        """The backend plugin ``--backend`` names, installed in ``registry``; fills in its default sampler and
        pruner and refuses what it cannot serve (a ``--storage`` database, several ``--workers``)."""
        from automl.backends import find_backend

        plugin = find_backend(registry, self.backend)
        self.sampler, self.pruner = plugin.check_choice(self.sampler, self.pruner)
        plugin.check_run(workers=self.workers, storage_url=self.storage)
        return plugin

    @property
    def target_trials(self) -> int | None:
        """The number of finished trials to reach; None means 'until the time budget ends'."""
        if self.trials is None and self.time_budget is None:
            return DEFAULT_TRIALS
        return self.trials

    def default_out(self) -> str:
        name = self.data.split(":", 1)[1] if self.data.startswith("builtin:") else Path(self.data).stem
        return str(Path("runs") / safe_name(name))


def parse_options(options: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """The one place search options are read, whoever gives them: the CLI (text), a YAML file or Python.

    Durations are seconds or ``"10m"``; image sizes ``"64x64"``, ``64`` or ``(64, 64)``; ``log`` and
    ``plugins`` a name or a list of names; None means "not given". An unknown name or a value of the wrong kind
    is a `ConfigError` naming the option, the rule and the value received (``where``: where it came from, e.g.
    the YAML file). Parsing parsed options again gives the same values.
    """
    prefix = f"{where}: " if where else ""
    unknown = sorted(set(options) - set(Experiment.__dataclass_fields__))
    if unknown:
        raise ConfigError(f"{prefix}unknown search option(s) {', '.join(map(repr, unknown))}; the options are: "
                          f"{', '.join(sorted(Experiment.__dataclass_fields__))}.")
    values: dict[str, Any] = {}
    for name, value in options.items():
        if value is None:
            continue
        option = f"{prefix}{name} ({cli_flag(name)})"
        if name in DURATION_OPTIONS:
            value = parse_duration(value, option)
        elif name == "image_size":
            value = parse_image_size(value, option)
        elif name == "class_weight":
            value = check_class_weight(value, option, ConfigError) or NONE  # "none" stays: it replaces the space's
        elif name in ("log", "plugins"):
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{option} takes a name or a list of names; got {value!r}.")
            value = list(value)
        else:
            value = _coerce(value, OPTION_KINDS[name], option)
        values[name] = value
    return values


def cli_flag(name: str) -> str:
    """An option's name on the command line: ``--time-budget`` for ``time_budget``, ``--plugin`` for ``plugins``."""
    flag = Experiment.__dataclass_fields__[name].metadata.get("flag")
    return flag.split("/")[0] if flag else f"--{name.replace('_', '-')}"


DURATION_OPTIONS = ("time_budget", "trial_timeout", "checkpoint_every")
# What each option takes (durations, image_size, log and plugins are parsed on their own).
OPTION_KINDS: dict[str, type] = {
    **dict.fromkeys(("data", "out", "space", "objective", "objectives", "class_weight", "backend", "sampler", "pruner",
                     "target", "task", "color_mode", "plugins_dir", "storage", "study", "keras_backend"), str),
    **dict.fromkeys(("trials", "seed", "top_k", "ensemble", "max_consecutive_failures", "workers", "max_retries",
                     "recycle_after", "threads_per_worker", "worker_memory_limit", "max_params"), int),
    **dict.fromkeys(("val_fraction", "test_fraction", "max_latency_ms"), float),
    **dict.fromkeys(("skip_corrupt", "initial_trials", "strict_plugins"), bool),
}


def _coerce(value: Any, kind: type, option: str) -> Any:
    """``value`` as ``kind``: paths become text, whole numbers given as text (or 3.0) become integers."""
    import numbers
    import os

    if kind is str:
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if isinstance(value, str):
            return value
        raise ConfigError(f"{option} takes text; got {value!r} ({type(value).__name__}).")
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{option} is on or off (true / false); got {value!r} ({type(value).__name__}).")
    if isinstance(value, str):
        try:
            value = float(value) if kind is float else int(value)
        except ValueError:
            raise ConfigError(f"{option} takes {'a number' if kind is float else 'a whole number'}; got {value!r}.") \
                from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{option} takes {'a number' if kind is float else 'a whole number'}; got {value!r} "
                          f"({type(value).__name__}).")
    if kind is int:
        whole = int(cast(SupportsInt, value))  # numbers.Real declares no __int__, though every real type has one
        if value != whole:
            raise ConfigError(f"{option} takes a whole number; got {value!r}.")
        return whole
    return float(value)


def parse_image_size(value: Any, option: str = "--image-size") -> tuple[int, int] | None:
    """``"64x64"``, ``"64"``, ``64``, ``(64, 48)`` or ``[64, 48]`` → ``(height, width)``."""
    if value is None:
        return None
    if isinstance(value, str):
        parts = value.lower().replace("×", "x").split("x")
        try:
            sizes = [int(p) for p in parts]
        except ValueError:
            sizes = []
    elif isinstance(value, (list, tuple)):
        sizes = [int(v) if isinstance(v, int) and not isinstance(v, bool) else -1 for v in value]
    elif isinstance(value, int) and not isinstance(value, bool):
        sizes = [value]
    else:
        sizes = []
    if len(sizes) == 1:
        sizes *= 2
    if len(sizes) != 2 or min(sizes) < 1:
        raise ConfigError(f"{option} takes HEIGHTxWIDTH or one number (e.g. 64x64, 64, or (64, 64) in Python); "
                          f"got {value!r}.")
    return sizes[0], sizes[1]


_DURATION = re.compile(r"(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m)?(?:(?P<s>\d+(?:\.\d+)?)s?)?")


def parse_duration(text: str | float | int | None, option: str = "a duration") -> float | None:
    """``90``, ``90.5``, ``"90s"``, ``"10m"``, ``"1h30m"`` → seconds."""
    if text is None:
        return None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    if not isinstance(text, str):
        raise ConfigError(f"{option} takes seconds or a text such as 90s, 10m or 1h30m; got {text!r} "
                          f"({type(text).__name__}).")
    match = _DURATION.fullmatch(text.strip().lower())
    if not text.strip() or match is None:
        raise ConfigError(f"{option} looks like 90, 90s, 10m or 1h30m; got {text!r}.")
    return sum(float(match.group(unit) or 0) * factor for unit, factor in (("h", 3600), ("m", 60), ("s", 1)))


def resolve_run_dir(out: str | Path) -> Path:
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise RunDirectoryError(f"--out {str(path)!r} is a file; pass a folder for the run.")
    return path


def _config_dict(experiment: Experiment, space_dict: dict[str, Any]) -> dict[str, Any]:
    from automl.storage import without_password

    config = asdict(experiment)
    config["storage"] = without_password(experiment.storage)  # files never hold the password
    config["space"] = space_dict
    # The effective ones, as the space (with --objective / --class-weight in it) holds them.
    config["objective"] = space_dict["objective"]
    config["class_weight"] = (space_dict.get("training") or {}).get("class_weight")
    config["image_size"] = list(experiment.image_size) if experiment.image_size else None
    return config


def _recorded(run_dir: Path, key: str) -> Any:
    """What a run directory's config.yaml records under ``key`` (None for a new run)."""
    layout = RunDirectory(run_dir)
    return (layout.read_config() if layout.is_run() else {}).get(key)


def _recorded_loggers(run_dir: Path) -> list[str]:
    """The logger names a run directory's config.yaml records (none for a new run)."""
    return list(_recorded(run_dir, "log") or [])


def _identity(config: Mapping[str, Any], key: str) -> Any:
    """What ``config`` records under identity key ``key``. The objective and the class weights are compared on
    their own (a run recorded before they were options has them in its space only), and the space without them,
    so a changed --objective is refused as that, not as another space."""
    space = dict(config.get("space") or {})
    training = dict(space.get("training") or {})
    if key == "objective":
        return config.get("objective") or space.get("objective") or DEFAULT_OBJECTIVE
    if key == "class_weight":
        return config["class_weight"] if "class_weight" in config else training.get("class_weight")
    if key == "space" and space:
        space.pop("objective", None)
        training.pop("class_weight", None)
        return {**space, "training": training}
    return config.get(key)


def _check_same_experiment(run_dir: Path, config: dict[str, Any]) -> None:
    if not RunDirectory(run_dir).is_run():
        return
    previous = read_config(run_dir)
    # data_fingerprint: the data changed
    changed = [k for k in IDENTITY_KEYS if _identity(previous, k) != _identity(config, k)]
    if changed:
        from automl.export import OLD_IMAGE_RUN_HINT

        old_image_run = "data_fingerprint" in changed and config.get("data_image_size") and \
            "data_image_size" not in previous
        raise RunDirectoryError(
            f"{run_dir} holds a different experiment: {', '.join(changed)} differ from its {CONFIG_FILE}. "
            "Re-run with the same options to resume it, or pass a new --out for a new search."
            + OLD_IMAGE_RUN_HINT * bool(old_image_run)
        )


def search(data: str | None = None, *, experiment: Experiment | None = None, progress=None, quiet: bool = True,
           plugin_objects: list | None = None, **options: Any) -> SearchResult:
    """Run (or resume) a search and return its :class:`SearchResult`.

    ``automl.search("builtin:digits", out="runs/digits", trials=12, space="quick")`` is the Python
    equivalent of ``automl search builtin:digits --out runs/digits --trials 12 --space quick``.
    """
    if experiment is None:
        experiment = Experiment.from_options({"data": data, **options})
    experiment.validate()
    if progress is None:
        from automl.progress import QuietProgress, RichProgress

        progress = QuietProgress() if quiet else RichProgress()
    return _Search(experiment, progress, plugin_objects).run()


class _Search:
    def __init__(self, experiment: Experiment, progress, plugin_objects: list | None = None) -> None:
        self.experiment = experiment
        self.progress = progress
        # The objects behind experiment.plugins (the Python API's plugins=[...]): used as they are in this process.
        self.plugin_objects = plugin_objects
        self.loggers: list = []  # the selected logger plugins' entries, set by run()
        self.backend_plugin: SearchBackend  # the --backend plugin, set by run()
        self.constraints: Constraints  # the deployment limits (--max-params, --max-latency-ms), set by run()
        self.initial: list = []  # the space's initial trials for the data's task, set by run()
        self.sized: DatasetsBySize | None = None  # the data at each size the space's training.image_size lists, set by run()
        self._models: dict[int, Any] = {}  # kept trial models loaded at the end (None: could not be loaded)

    def run(self) -> SearchResult:
        from filelock import FileLock, Timeout

        from automl import keras_backend
        from automl.data import DatasetsBySize, load_dataset
        from automl.lifecycle import select_loggers
        from automl.plugin_manager import build_registry
        from automl.search_space import SearchSpace, default_space_name

        exp = self.experiment
        assert exp.keras_backend is not None  # validate() resolved it
        if exp.workers == 0:  # trials train in this process: before Keras loads (a plugin module may import it)
            keras_backend.activate(exp.keras_backend)
        # Cheap checks first: plugins, backend, space, run directory — then the data preflight — then TensorFlow.
        registry = build_registry(plugins_dir=exp.plugins_dir, strict=exp.strict_plugins,
                                  plugins=self.plugin_objects or exp.plugins or ())
        self.backend_plugin = exp.choose_backend(registry)
        if not self.trains_in_workers:
            keras_backend.activate(exp.keras_backend)
        for problem in registry.problems:
            self.progress.message(f"warning: {problem}")
        run_dir = resolve_run_dir(exp.out or exp.default_out())
        if exp.log is None:  # a resumed run keeps the loggers it was started with
            exp.log = _recorded_loggers(run_dir)
            if exp.log:
                self.progress.message(f"logging with the run's loggers: {', '.join(exp.log)} (--log none for none)")
        self.loggers = select_loggers(registry, exp.log)  # unknown names and missing packages fail here
        explicit_space = SearchSpace.load(exp.space, registry) if exp.space else None  # before the data load
        # A resumed run keeps the image size it chose by default (another machine might choose another).
        image_size = exp.image_size or _recorded(run_dir, "data_image_size")
        dataset = load_dataset(exp.data, target=exp.target, image_size=image_size, color_mode=exp.color_mode,
                               val_fraction=exp.val_fraction, test_fraction=exp.test_fraction, seed=exp.seed,
                               skip_corrupt=exp.skip_corrupt, progress=self.progress, task=exp.task)
        if dataset.is_regression:
            self.progress.message(f"task: regression — {dataset.summary()}")
        for note in dataset.notes:
            self.progress.message(note)
        if dataset.skipped:
            self.progress.message(f"skipped {len(dataset.skipped)} unreadable file(s): {', '.join(dataset.skipped[:5])}"
                                  + (" …" if len(dataset.skipped) > 5 else ""))
        from automl.keras_backend import import_tensorflow_quietly

        import_tensorflow_quietly()  # the data are fine: TensorFlow now, without its C++ start-up lines
        space = explicit_space or SearchSpace.load(default_space_name(dataset.task, dataset.input_shape), registry)
        space.for_task(dataset.task, registry)  # fails now, not in trial 0, if nothing fits the task
        self._apply_constraints(space)
        self._apply_objectives(space)
        self._choose_objective_and_weights(space, dataset)
        if not exp.initial_trials:
            space.initial_trials = []  # recorded in config.yaml's space: a different experiment from the default
        self.initial = space.initial_candidates(registry, dataset.task)  # an initial trial unfit for the task: here
        config = _config_dict(exp, space.to_dict())
        config["data_fingerprint"] = dataset.fingerprint
        config["problem"] = dataset.problem  # detected, or --task: what workers, the export and predict load
        # The size the images were decoded at, chosen or given: what workers, the export and predict use.
        config["data_image_size"] = dataset.preprocessing["image_size"] if dataset.task == "image" else None
        config["study"] = self._study_name(run_dir)
        _check_same_experiment(run_dir, config)
        # Nothing is written to the run directory before its storage opened: a database is reached first, so a
        # wrong URL leaves no config.yaml that would refuse the corrected command as "a different experiment".
        backend = self._open_backend(run_dir, space, registry, dataset.task, config) if exp.storage else None
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunDirectoryError(f"cannot create the run directory {run_dir}: {exc.strerror}; pass an --out "
                                    "folder you can write to.") from None
        layout = RunDirectory(run_dir)
        lock = FileLock(str(layout.lock))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise RunDirectoryError(
                f"another automl search is running on {run_dir} (its lock file {layout.lock} is held); "
                "wait for it to finish or use another --out."
            ) from None
        except OSError as exc:
            raise RunDirectoryError(f"cannot write to the run directory {run_dir}: {exc.strerror}; pass an --out "
                                    "folder you can write to.") from None
        try:
            if not exp.storage:  # models a killed trial left waiting (a shared database's workers may own some)
                shutil.rmtree(layout.pending, ignore_errors=True)
            if backend is None:
                repaired = self.backend_plugin.repair(run_dir)  # under the lock: no other process writes it now
                if repaired:
                    self.progress.message(f"warning: {repaired}")
                backend = self._open_backend(run_dir, space, registry, dataset.task, config)
            atomic_write_text(layout.config, yaml.safe_dump(config, sort_keys=False))
            self.sized = DatasetsBySize(config, dataset)
            sizes = self.sized.sizes(space.training.get("image_size"))
            if sizes:
                self.progress.message("training.image_size: trials train at "
                                      + ", ".join(f"{h}x{w}" for h, w in sizes) + " (each decoded once into the cache)")
            self.sized.preload(space.training.get("image_size"), self.progress)
            return self._loop(run_dir, dataset, space, registry, config, backend)
        finally:
            lock.release()

    def _choose_objective_and_weights(self, space, dataset: Dataset) -> None:
        """Put --objective and --class-weight into ``space`` (they replace its own), check the objective fits the
        data's problem and the class weights its labels, and warn about imbalanced classes (the preflight)."""
        import numpy as np

        from automl import class_weights

        exp = self.experiment
        problem = problem_of(dataset)
        if exp.objective is not None:
            space.objective = exp.objective
        elif problem == REGRESSION and space.objective not in objective_names(problem):
            space.objective = default_objective(problem)  # a classification space on a regression target
        space.objective = check_objective(space.objective, "--objective" if exp.objective else
                                          f"{space.source}: objective", ConfigError, problem)
        if problem == REGRESSION:
            self._regression_training(space)
            return
        space.training.pop("loss", None)  # a regression's choice (the tabular space lists it): cross-entropy here
        if exp.class_weight is not None:
            space.training.pop("class_weight", None)
            if exp.class_weight != NONE:
                space.training["class_weight"] = exp.class_weight
        setting = space.training.get("class_weight")
        where = "--class-weight" if exp.class_weight is not None else f"{space.source}: training.class_weight"
        class_weights.resolve(setting, dataset.y_train, dataset.class_names, where)  # an unknown label: here
        labels = np.concatenate([dataset.y_train, dataset.y_val, dataset.y_test])
        warning = class_weights.imbalance_warning(labels, dataset.class_names, setting, space.objective)
        if warning:
            self.progress.message(warning)

    def _regression_training(self, space) -> None:
        """What a regression search leaves out of the space's training: class weights (there are no classes) and
        an early stopping on val_accuracy (it stops on val_loss)."""
        exp = self.experiment
        if exp.class_weight not in (None, NONE):
            raise ConfigError(f"--class-weight {exp.class_weight} was given, but the task is regression (no classes); "
                              "leave it out, or pass --task classification.")
        if space.training.pop("class_weight", None) not in (None, NONE):
            self.progress.message(f"note: {space.source}: training.class_weight is ignored for regression")
        stopping = space.training.get("early_stopping")
        if isinstance(stopping, dict) and stopping.get("monitor", "val_loss") != "val_loss":
            space.training["early_stopping"] = {**stopping, "monitor": "val_loss"}
            self.progress.message(f"note: {space.source}: early stopping watches val_loss for regression")

    @property
    def trains_in_workers(self) -> bool:
        """Whether trials train in worker processes (--workers, and a backend whose storage they can share)."""
        return self.experiment.workers > 0 and self.backend_plugin.worker_processes

    def _apply_objectives(self, space: SearchSpace) -> None:
        """--objectives OBJECTIVE,SECOND: the first is the search's objective (checked with the others), the
        second goes into the space's training.trade_off, so every trial measures it."""
        from automl.search_space import TRADE_OFFS

        exp = self.experiment
        if exp.objectives is None:
            return
        names = [name.strip() for name in exp.objectives.split(",") if name.strip()]
        if len(names) != 2 or names[1] not in TRADE_OFFS:
            raise ConfigError(f"--objectives takes two names, OBJECTIVE,SECOND, with SECOND one of "
                              f"{', '.join(TRADE_OFFS)} (e.g. val_accuracy,latency_ms); got {exp.objectives!r}.")
        if exp.objective is not None and exp.objective != names[0]:
            raise ConfigError(f"--objective {exp.objective} and --objectives {exp.objectives} name different first "
                              "objectives; give one of them.")
        exp.objective = names[0]
        space.training["trade_off"] = names[1]
        self.constraints = space.constraints
        if exp.sampler in self.backend_plugin.trade_off_samplers:
            searched = (f"both searched by the {exp.sampler} sampler; pruned on {names[0]} only when a trial with "
                        f"no higher {names[1]} did better")
        else:
            searched = (f"the {exp.sampler} sampler searches and prunes on {names[0]}; {names[1]} is measured for "
                        "every trial")
        self.progress.message(f"objectives: {names[0]} and {names[1]} ({searched}); the leaderboard marks their "
                              "Pareto front")

    def _apply_constraints(self, space: SearchSpace) -> None:
        """Write --max-params / --max-latency-ms into the space's training (they replace its own), so the limits are
        part of the recorded experiment and every worker reads them."""
        from automl.search_space import CONSTRAINT_KEYS

        for key in CONSTRAINT_KEYS:
            if getattr(self.experiment, key) is not None:
                space.training[key] = getattr(self.experiment, key)
        self.constraints = space.constraints
        if self.constraints.has_limits:
            limits = [f"{self.constraints.max_params:,} parameters"] if self.constraints.max_params else []
            limits += [f"{self.constraints.max_latency_ms:g} ms a prediction"] if self.constraints.max_latency_ms else []
            self.progress.message(f"deployment limit: at most {' and '.join(limits)}; a trial over it is pruned")

    def _open_backend(self, run_dir: Path, space, registry, task: str, config: dict[str, Any]):
        from automl.backends import BackendOptions

        exp = self.experiment
        assert exp.sampler is not None and exp.pruner is not None  # choose_backend() filled in the defaults
        return self.backend_plugin.open(BackendOptions(
            run_dir, space, registry, task, sampler=exp.sampler, pruner=exp.pruner, seed=exp.seed,
            expected_trials=exp.target_trials, storage_url=exp.storage, study_name=config["study"],
            max_retries=exp.max_retries))

    def _loop(self, run_dir: Path, dataset: Dataset, space, registry, config: dict[str, Any],
              backend) -> SearchResult:
        from automl.lifecycle import LifecycleHooks, leaderboard_rows
        from automl.runner import RunContext, TrialRunner

        exp, progress = self.experiment, self.progress
        recover_directory(RunDirectory(run_dir).best)
        study_name = config["study"]
        recovered = backend.recover_interrupted()
        if recovered:
            progress.message(f"resuming: trial(s) {recovered} were interrupted; each is retried (at most "
                             f"--max-retries {exp.max_retries} times)")
        self._queue_initial(backend)
        deadline = time.time() + exp.time_budget if exp.time_budget else None
        shared_config = {**config, "target_trials": exp.target_trials, "deadline": deadline, "study": study_name}
        backend.share_config(shared_config)  # `automl worker --storage URL --study NAME` reads it
        hooks = LifecycleHooks(self.loggers, run_dir, progress.message)
        hooks.search_started(shared_config)
        sink = _EventSink(progress, run_dir, space, backend, exp.max_consecutive_failures, hooks)
        progress.start(exp.target_trials, backend.finished_count(), exp.time_budget)
        try:
            if not self.trains_in_workers:
                context = RunContext(run_dir, dataset, space, registry, exp.seed, exp.target_trials, deadline,
                                     exp.top_k, exp.checkpoint_every, self.sized, exp.time_budget)
                why = TrialRunner(context, backend, sink, sink.should_stop).run()
            else:
                why = self._run_workers(run_dir, shared_config, study_name, backend, sink)
        except KeyboardInterrupt as stop:
            how = getattr(stop, "signal_name", "Ctrl+C")
            progress.message(f"stopped by {how}: finished trials are saved, the running one is queued again; re-run "
                             "the same command to resume")
            if hooks.entries:  # loggers close their files and end their remote runs
                hooks.search_finished(leaderboard_rows(backend.records(), space.direction), "interrupted")
            raise
        finally:
            progress.close()
            with contextlib.suppress(OSError):  # empty unless a worker on another machine shares the folder
                RunDirectory(run_dir).pending.rmdir()
        stopped = {"target": "trials reached", "deadline": "time budget used"}.get(why, why or "stopped")
        if why == "target":  # no trial of this run is promoted any more: weights kept for promotions go
            shutil.rmtree(RunDirectory(run_dir).warm, ignore_errors=True)
        if sink.should_stop():
            stopped = f"{sink.consecutive_failures} trials failed in a row"
            progress.message(f"stopping: {stopped} (--max-consecutive-failures); see the reasons in the leaderboard")
        records = backend.records()
        test_metrics = self._evaluate_top(run_dir, records, space.direction)
        frame = _write_leaderboard(run_dir, records, space, test_metrics)
        self._export_best(run_dir, records, space.direction)
        hooks.search_finished(leaderboard.to_records(frame), stopped)
        return SearchResult(run_dir, frame, dataset, stopped)

    def _queue_initial(self, backend) -> None:
        if not self.initial:
            return
        if not backend.queues_initial_trials:
            self.progress.message(f"note: the {self.experiment.backend} backend cannot queue given configurations; "
                                  f"the space's {len(self.initial)} initial trial(s) are left to its sampler")
            return
        queued = backend.enqueue_initial([params for _, params in self.initial])
        if queued:
            names = ", ".join(f"{c.architecture}/{c.augmentation}/{c.optimizer}" for c, _ in self.initial)
            self.progress.message(f"starting with {queued} known-good configuration(s) from the space: {names} "
                                  "(--no-initial-trials leaves every trial to the sampler)")

    def _study_name(self, run_dir: Path) -> str:
        from automl.backends import STUDY_NAME

        if self.experiment.study:
            return self.experiment.study
        # One database holds many runs: name the study after the run directory.
        return safe_name(run_dir.resolve().name) if self.experiment.storage else STUDY_NAME

    def _run_workers(self, run_dir: Path, shared_config: dict[str, Any], study_name: str, backend, sink) -> str:
        from automl.workers import WorkerPool, WorkerSettings

        exp = self.experiment
        threads = exp.threads_per_worker or (1 if exp.workers > 1 else None)
        settings = WorkerSettings(0, shared_config, str(run_dir), exp.storage, study_name, exp.recycle_after,
                                  threads, exp.worker_memory_limit, exp.max_retries)
        pool = WorkerPool(settings, exp.workers, backend, sink, trial_timeout=exp.trial_timeout,
                          should_stop=sink.should_stop)
        try:
            return pool.run()
        except KeyboardInterrupt as stop:
            pool.terminate(interrupted_by=getattr(stop, "signal_name", "Ctrl+C"))
            raise
        finally:
            pool.terminate()

    # --- helpers ---------------------------------------------------------------------------------------
    def _kept_model(self, run_dir: Path, number: int):
        """Trial ``number``'s kept model, loaded once in safe mode; None (after a warning) when it cannot be.

        Each trial's model was loaded back once when it was saved, but its file may have been damaged since, or
        a plugin it needs is no longer installed: that trial is then left out of the test evaluation and
        best/, and the next one is taken.
        """
        from automl.export import load_keras_model
        if number not in self._models:
            try:
                self._models[number] = load_keras_model(RunDirectory(run_dir).trial_model(number))
            except Exception as exc:  # Keras' reason goes into the warning
                self._models[number] = None
                self.progress.message(f"warning: trial {number}'s kept model cannot be loaded ({type(exc).__name__}: "
                                      f"{str(exc).strip()[:300]}); it is left out of the test evaluation and best/")
        return self._models[number]

    def _evaluate_top(self, run_dir: Path, records, direction) -> dict[int, dict[str, float]]:
        """Test-split metrics for the top-k, once: the test split never influenced the search."""
        from automl.export import classification_metrics, regression_metrics
        from automl.search_space import Candidate
        from automl.trainer import predict, quiet_tensorflow

        quiet_tensorflow()
        metrics = read_test_metrics(run_dir)
        top = [r for r in leaderboard.ranked(records, direction)[: self.experiment.top_k]
               if r["trial"] not in metrics and RunDirectory(run_dir).trial_model(r["trial"]).exists()]
        assert self.sized is not None  # set by run() before the trials
        if top:
            self.progress.message(f"testing the top {len(top)} trial(s) on the held-out test split "
                                  f"({len(self.sized.dataset.y_test)} samples): trials "
                                  f"{', '.join(str(r['trial']) for r in top)}")
        for record in top:
            number = record["trial"]
            model = self._kept_model(run_dir, number)
            if model is None:
                continue
            at_size = self.sized.for_candidate(Candidate.from_dict(record["candidate"]))
            probabilities = predict(model, at_size.x_test)
            if at_size.is_regression:  # predicted values: test RMSE, MAE (and R² beside them)
                metrics[number] = {key: value for key, value in regression_metrics(at_size.y_test, probabilities).items()
                                   if key != "samples"}
                continue
            scores = classification_metrics(at_size.y_test, probabilities, at_size.class_names)
            metrics[number] = {"accuracy": scores["accuracy"], "loss": scores["loss"],
                               **prediction_scores(at_size.y_test, probabilities, problem_of(at_size),
                                                   prefix=False)}
        atomic_write_json(RunDirectory(run_dir).test_metrics, {str(k): v for k, v in metrics.items()})
        return metrics

    def _export_best(self, run_dir: Path, records, direction, skip: frozenset[int] = frozenset()) -> None:
        """Export the best trial — or the average of the best ``ensemble`` trials — to best/ (verified .keras +
        SavedModel) unless it is already there."""
        from automl.export import (
            CARD_FILE,
            FORMATS,
            SEARCH_FORMATS,
            combine,
            ensemble_members,
            ensemble_shortfall,
            export_model,
            exported_trials,
            read_card,
        )
        from automl.search_space import Candidate

        layout = RunDirectory(run_dir)
        assert self.sized is not None and self.experiment.ensemble is not None  # set by run() and validate()
        ranked = leaderboard.ranked(records, direction)
        if skip:  # kept models that cannot be loaded: the best of the other kept ones
            ranked = [r for r in ranked if r["trial"] not in skip and layout.trial_model(r["trial"]).exists()]
        members = ensemble_members(ranked, self.experiment.ensemble, self.constraints)
        if not members:
            return
        unloadable = {m["trial"] for m in members if layout.trial_model(m["trial"]).exists()
                      and self._kept_model(run_dir, m["trial"]) is None}
        if unloadable:
            return self._export_best(run_dir, records, direction, skip | unloadable)
        if len(members) < min(self.experiment.ensemble, len(ranked)):
            self.progress.message(ensemble_shortfall(ranked, members, self.experiment.ensemble))
        numbers = [member["trial"] for member in members]
        ensemble = members if len(members) > 1 else None
        dataset = self.sized.for_candidate(Candidate.from_dict(members[0]["candidate"]))  # at the trials' size
        formats = list(SEARCH_FORMATS)
        if (layout.best / CARD_FILE).exists():
            card = read_card(layout.best)
            if exported_trials(card) == numbers and card.get("data_fingerprint") == dataset.fingerprint \
                    and set(SEARCH_FORMATS) <= set(card.get("formats", {})):
                return  # a resumed run whose best trials did not change
            # Formats the user added with `automl export` are written again for the new best trial.
            formats += [f for f in card.get("formats", {}) if f in FORMATS and f not in formats
                        and not FORMATS[f].missing_modules()]
        missing = [n for n in numbers if not layout.trial_model(n).exists()]
        if missing:
            self.progress.message(f"warning: the model(s) of best trial(s) {missing} are missing; run automl export "
                                  "--refit")
            return
        what = f"trial {numbers[0]}" if ensemble is None else \
            f"the average of trials {', '.join(map(str, numbers))} (--ensemble {self.experiment.ensemble})"
        self.progress.message(f"exporting {what} to {layout.best} ({', '.join(formats)})")
        from automl import keras_backend

        if keras_backend.is_tensorflow():
            model = combine([self._kept_model(run_dir, n) for n in numbers], members)
            export_model(model, dataset, layout.best, record=members[0], formats=formats, ensemble=ensemble)
        else:  # Keras runs on JAX here: a TensorFlow-backend process writes the TensorFlow graphs (automl.export)
            from automl.export import export_run

            export_run(run_dir, formats=formats, out=layout.best, ensemble=self.experiment.ensemble,
                       progress=self.progress.message)


def _write_leaderboard(run_dir: Path, records, space, test_metrics=None) -> pd.DataFrame:
    """Rebuild the leaderboard, ranked by the space's objective (its Pareto front with training.trade_off marked),
    from the records and write its files (atomically)."""
    if test_metrics is None:
        test_metrics = read_test_metrics(run_dir)
    frame = leaderboard.build(records, direction(space.objective), test_metrics, space.objective,
                              trade_off=space.training.get("trade_off"))
    leaderboard.write(frame, run_dir)
    return frame


class _EventSink:
    """Turns trial events (from this process or from workers) into the display, the leaderboard file, the
    consecutive-failure count and the selected loggers' lifecycle hooks."""

    def __init__(self, progress, run_dir: Path, space, backend, max_consecutive_failures: int, hooks=None) -> None:
        self.progress, self.run_dir, self.space, self.backend = progress, run_dir, space, backend
        self.max_consecutive_failures = max_consecutive_failures
        self.consecutive_failures = 0
        self.hooks = hooks  # automl.lifecycle.LifecycleHooks; it never raises for a logger's fault
        import inspect

        # A progress object written before epoch_end said which trial (with workers, several run at once).
        self._epoch_takes_trial = "trial" in inspect.signature(progress.epoch_end).parameters

    def __call__(self, event: TrialEvent) -> None:
        from automl.search_space import Candidate

        if isinstance(event, TrialStarted):
            self.progress.trial_started(event.trial, Candidate.from_dict(event.candidate), None)
        elif isinstance(event, TrialEpoch):
            extra = {"trial": event.trial} if self._epoch_takes_trial else {}
            self.progress.epoch_end(event.epoch, event.max_epochs, event.logs, **extra)
        elif isinstance(event, TrialFinished):
            failed = event.record["status"] == "failed"
            self.consecutive_failures = self.consecutive_failures + 1 if failed else 0
            records = self.backend.records()
            _write_leaderboard(self.run_dir, records, self.space)
            top = leaderboard.ranked(records, self.space.direction)
            # the best's val_accuracy; a regression search's best objective (val_rmse...)
            best = None if not top else top[0]["val_accuracy"] if leaderboard.is_finite_number(
                top[0].get("val_accuracy")) else top[0]["objective"]
            self.progress.trial_finished(event.record, event.finished, best)
        elif isinstance(event, Message):
            self.progress.message(event.text)
        if self.hooks is not None:
            self.hooks(event)

    def should_stop(self) -> bool:
        return self.consecutive_failures >= self.max_consecutive_failures
