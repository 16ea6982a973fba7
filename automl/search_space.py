"""Search spaces: which plugins take part, how their ranges are narrowed, and the training settings.

A search space is data (YAML, or the same structure as a dict)::

    objective: val_accuracy          # or val_loss, val_balanced_accuracy, val_f1_macro, val_auc; regression: val_rmse, val_mae
    architectures:                   # a mapping name -> overrides, a list of names, or "all"
      cnn: {blocks: [1, 2], filters: {low: 16, high: 64}}
      mlp: {}
    augmentations: [none, translation]
    optimizers: all
    training:
      batch_size: [32, 64]           # a fixed int or a list to choose from
      max_epochs: 12
      patience: 3
      first_rung: 2                  # the first epoch the pruner may stop a trial at (default 2, 1 below 6 epochs)
      continue_best: 0.4             # with --time-budget: its last 40 % continues the best trial (optuna backend)
      early_stopping: {monitor: val_accuracy, from_epoch: 20}   # default: val_loss, from epoch 0
      learning_rate: {low: 1.0e-3, high: 1.0e-2}   # narrows every optimizer's learning_rate
      image_size: [48, 64, 96]       # images only: the long side in pixels, one size or a list to choose from
      max_params: 200000             # a model with more parameters is pruned before it trains (--max-params)
      max_latency_ms: 5              # ... or after its first epoch, if batch-1 prediction is slower (--max-latency-ms)
      class_weight: balanced         # or {label: weight, ...}; default none (automl.class_weights)
      loss: [squared_error, huber]   # regression only: its loss, one or a list to choose from (default squared_error)
    initial_trials:                  # known-good configurations, tried first (optuna backend)
      - {architecture: cnn, augmentation: translation, optimizer: adam, params: {cnn.filters: 64}, batch_size: 32}

Families that are left out take every installed plugin that supports the data's task. An initial trial
names one plugin of each family; parameters it leaves out take the plugin's defaults, and the sampler
learns from its outcome like from any other trial (AutoKeras starts from known-good points the same way).

``training.image_size`` lets the search trade resolution against time: each value is the long side of the
trial's input, whose aspect ratio is the run's image size (the chosen default or ``--image-size``). A trial
records the size it used; the files are decoded once per size into the shared cache.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.class_weights import check_class_weight
from automl.errors import HyperparameterError, SearchSpaceError
from automl.hp import ChoiceParam, Driver, FixedDriver, PluginHP, RecordingDriver, declared_params
from automl.io import parse_yaml, read_text_file
from automl.objectives import DEFAULT_OBJECTIVE, Direction, check_objective, direction
from automl.plugin import FAMILIES
from automl.plugin_manager import Registry

if TYPE_CHECKING:
    import numpy as np

FAMILY_KEYS = {"architectures": "architecture", "augmentations": "augmentation", "optimizers": "optimizer"}
TRAINING_DEFAULTS: dict[str, Any] = {"batch_size": 64, "max_epochs": 20, "patience": 4}
TOP_LEVEL_KEYS = {"description", "objective", "training", "initial_trials", *FAMILY_KEYS}
# Training settings a space may list as choices (the others are fixed numbers); an initial trial may pick one.
TRAINING_CHOICES = ("batch_size", "image_size", "loss")
# A regression's loss (training.loss), on the standardised target; a classification's is always cross-entropy.
REGRESSION_LOSSES = ("squared_error", "huber")
# Deployment limits a trial's model must meet, or it is pruned (Constraints).
CONSTRAINT_KEYS = ("max_params", "max_latency_ms")
# A second objective (--objectives OBJECTIVE,SECOND): measured for every trial and minimised beside the first on the
# leaderboard's Pareto front (training.trade_off).
TRADE_OFFS = ("latency_ms", "param_count")
INITIAL_TRIAL_KEYS = (*FAMILIES, "params", *TRAINING_CHOICES)
MIN_IMAGE_SIDE = 8
# Images with a short side of at least this many pixels (at the search's input size) are photos to the
# default space: photo_default rather than image_default, whose settings suit 8x8 digits and icons.
PHOTO_MIN_SIDE = 32


def default_space_name(task: str, input_shape: Sequence[int]) -> str:
    """The built-in space a search uses when no ``--space`` is given, by the data it searches on."""
    if task == "image" and min(input_shape[:2]) >= PHOTO_MIN_SIDE:
        return "photo_default"
    return f"{task}_default"


@dataclass(frozen=True)
class EarlyStoppingRule:
    """What early stopping watches in every trial (``training.early_stopping``).

    ``monitor`` is ``val_loss`` (the default) or ``val_accuracy``, and early stopping neither stops a trial nor
    picks its best epoch before epoch ``from_epoch`` (0-based, Keras' ``start_from_epoch``). The best epoch
    is the one whose weights the trial keeps and whose scores its row shows. A photo network's validation
    loss often reaches its minimum while its accuracy is still at chance, and climbs while the accuracy
    does: watching the loss there keeps the weights of a network that has learnt nothing.

    ``chance`` (set by the trainer from the validation split's labels: see :func:`chance_level`)
    goes further: nothing is judged before the first epoch whose ``val_accuracy`` is above it. A photo
    network can sit at chance for 30 to 80 epochs before it starts to learn (benchmarks/RESULTS.md), and
    patience counted on that plateau stops it just before. A trial still at chance after ``chance_patience``
    epochs stops; one that never leaves chance says so in its row.
    """

    monitor: str = "val_loss"
    from_epoch: int = 0
    chance: float | None = None
    chance_patience: int | None = None

    @property
    def mode(self) -> str:
        return "min" if self.monitor == "val_loss" else "max"

    def left_chance(self, history: Mapping[str, Sequence[float]], epochs: int | None = None) -> int | None:
        """The first 0-based epoch whose ``val_accuracy`` is above ``chance`` (0 without a chance level), or
        None while the trial is still at chance."""
        if self.chance is None:
            return 0
        accuracy = list(history.get("val_accuracy", []))[:epochs]
        return next((epoch for epoch, value in enumerate(accuracy) if value > self.chance), None)

    def best_epoch(self, history: Mapping[str, Sequence[float]], epochs: int | None = None) -> int:
        """The 0-based epoch whose weights a trial holds after the first ``epochs`` of ``history`` (all by
        default), as early stopping restores them: the first best value at or after ``from_epoch`` and the
        epoch it left chance, or the last epoch when the trial ended before both (nothing was restored)."""
        values = list(history[self.monitor])[:epochs]
        left = self.left_chance(history, epochs)
        start = max(self.from_epoch, len(values) if left is None else left)
        if len(values) <= start:
            return len(values) - 1
        pick = min if self.mode == "min" else max
        return pick(range(start, len(values)), key=values.__getitem__)


def chance_level(labels: Sequence[int] | np.ndarray, classes: int) -> float:
    """The validation accuracy a classifier that has learnt nothing can reach: the majority class's share of
    ``labels``, plus three standard errors of that share so an epoch is not "above chance" by luck (0.35 for
    180 labels of four balanced classes), but never more than halfway from that share to 1 (a small split)."""
    import numpy as np

    class_ids = np.asarray(labels).astype(np.int64).ravel()
    if class_ids.size == 0:
        return 1.0
    share = float(np.bincount(class_ids, minlength=classes).max() / class_ids.size)
    return min(share + 3.0 * float(np.sqrt(share * (1.0 - share) / class_ids.size)), (1.0 + share) / 2)


EARLY_STOPPING_MONITORS = ("val_loss", "val_accuracy")


@dataclass(frozen=True)
class Candidate:
    """One point of the joint space, independent of the backend that sampled it."""

    architecture: str
    augmentation: str
    optimizer: str
    params: dict[str, Any]  # full names, e.g. {"cnn.filters": 32, "adam.learning_rate": 0.001}
    batch_size: int
    max_epochs: int
    patience: int
    image_size: int | None = None  # the input's long side in pixels (training.image_size); None: the run's size
    loss: str | None = None  # a regression's loss (training.loss); None: squared error, or a classification

    def to_dict(self) -> dict[str, Any]:
        data = {
            "architecture": self.architecture, "augmentation": self.augmentation, "optimizer": self.optimizer,
            "params": dict(self.params), "batch_size": self.batch_size, "max_epochs": self.max_epochs,
            "patience": self.patience,
        }
        # absent, not null, so records of runs without them read as before
        data.update({key: value for key, value in (("image_size", self.image_size), ("loss", self.loss))
                     if value is not None})
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Candidate:
        return cls(**{**data, "params": dict(data["params"])})


@dataclass
class SearchSpace:
    """A validated search space, bound to the registry it was checked against."""

    families: dict[str, dict[str, dict[str, Any]]]  # family -> plugin name -> overrides
    training: dict[str, Any]
    objective: str = DEFAULT_OBJECTIVE
    source: str = "<dict>"
    description: str = ""
    raw: dict[str, Any] = field(default_factory=dict)
    # Configurations tried before the sampler's own, in the YAML form (see initial_candidates).
    initial_trials: list[dict[str, Any]] = field(default_factory=list)

    @property
    def constraints(self) -> Constraints:
        """The deployment limits of ``training`` (max_params, max_latency_ms)."""
        return Constraints.from_training(self.training)

    @property
    def direction(self) -> Direction:
        return direction(self.objective)

    @property
    def early_stopping(self) -> EarlyStoppingRule:
        return EarlyStoppingRule(**(self.training.get("early_stopping") or {}))

    # --- construction --------------------------------------------------------------------------------
    @classmethod
    def load(cls, name_or_path: str | Path, registry: Registry) -> SearchSpace:
        """Load a shipped space by name (``quick``, ``image_default``, ``photo_default``, ``tabular_default``) or a
        YAML path."""
        path = Path(name_or_path)
        if path.suffix in (".yaml", ".yml") or path.exists():
            if not path.exists():
                raise SearchSpaceError(f"search space file {str(path)!r} does not exist.")
            text, source = read_text_file(path, "search space file", SearchSpaceError), str(path)
        else:
            shipped = builtin_spaces()
            if str(name_or_path) not in shipped:
                raise SearchSpaceError(
                    f"unknown search space {str(name_or_path)!r}; shipped spaces: {', '.join(sorted(shipped))} "
                    "(or pass the path of a .yaml file)."
                )
            text, source = shipped[str(name_or_path)].read_text(), f"{name_or_path}.yaml (shipped)"
        data = parse_yaml(text, source, SearchSpaceError) or {}
        return cls.from_dict(data, registry, source=source)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], registry: Registry, *, source: str = "<dict>") -> SearchSpace:
        if not isinstance(data, Mapping):
            raise SearchSpaceError(f"{source}: a search space is a mapping of keys; got {type(data).__name__}.")
        unknown = set(data) - TOP_LEVEL_KEYS
        if unknown:
            raise SearchSpaceError(f"{source}: unknown key(s) {sorted(unknown)}; allowed: {sorted(TOP_LEVEL_KEYS)}.")
        objective = check_objective(data.get("objective", DEFAULT_OBJECTIVE), f"{source}: objective", SearchSpaceError,
                                    None)  # of any problem: checked against the data's by the search
        families = {}
        for key, family in FAMILY_KEYS.items():
            families[family] = _family_selection(data.get(key, "all"), family, registry, f"{source}: {key}")
        training = _training(data.get("training") or {}, f"{source}: training")
        space = cls(families, training, objective, source, str(data.get("description", "")), dict(data))
        space._check_overrides(registry)
        space.initial_trials = _initial_trials(data.get("initial_trials") or [], f"{source}: initial_trials")
        names = {family: list(selection) for family, selection in families.items()}
        for index, entry in enumerate(space.initial_trials):  # every mistake shows now, not in trial 0
            space._resolve_initial(index, entry, registry, names)
        return space

    def _check_overrides(self, registry: Registry) -> None:
        lr = self.training.get("learning_rate")
        for family, selection in self.families.items():
            for name, overrides in selection.items():
                plugin = registry.get(family, name).plugin
                where = f"{self.source}: {family}s.{name}"
                if family == "optimizer" and lr is not None and "learning_rate" not in overrides:
                    # training.learning_rate narrows every optimizer that has no range of its own here.
                    overrides["learning_rate"] = lr
                    where_lr = f"{self.source}: training.learning_rate (for {name})"
                else:
                    where_lr = where
                try:
                    declared = {p.name.split(".", 1)[1] for p in declared_params(plugin, overrides, where_lr)}
                except HyperparameterError as exc:
                    raise SearchSpaceError(str(exc)) from None
                unknown = set(overrides) - declared
                if unknown:
                    raise SearchSpaceError(
                        f"{where_lr}: unknown parameter(s) {sorted(unknown)}; {name} declares: "
                        f"{', '.join(sorted(declared)) or 'none'}."
                    )

    # --- use -----------------------------------------------------------------------------------------
    def for_task(self, task: str, registry: Registry) -> dict[str, list[str]]:
        """The plugin names of each family that support ``task``; an empty family is an error."""
        if self.training.get("image_size") is not None and task != "image":
            raise SearchSpaceError(f"{self.source}: training.image_size applies to image data; this data is {task}. "
                                   "Leave it out of the space for this data.")
        names = {}
        for family, selection in self.families.items():
            names[family] = [n for n in selection if task in registry.get(family, n).plugin.tasks]
            if not names[family]:
                raise SearchSpaceError(
                    f"{self.source}: no {family} in this space supports {task} data (it lists {sorted(selection)}); "
                    f"installed {family}s for {task}: {', '.join(registry.names(family, task))}."
                )
        return names

    def sample(self, driver: Driver, registry: Registry, task: str) -> Candidate:
        """Ask ``driver`` for one candidate: a plugin per family, then that plugin's parameters."""
        return self._sample(driver, registry, self.for_task(task, registry))

    def initial_candidates(self, registry: Registry, task: str) -> list[tuple[Candidate, dict[str, Any]]]:
        """The initial trials for ``task``: each as a candidate and as the values a sampler would have drawn
        (plugin choices and non-fixed parameters by their full names, ready for ``study.enqueue_trial``)."""
        names = self.for_task(task, registry)
        return [self._resolve_initial(index, entry, registry, names)
                for index, entry in enumerate(self.initial_trials)]

    def _resolve_initial(self, index: int, entry: dict[str, Any], registry: Registry,
                         names: dict[str, list[str]]) -> tuple[Candidate, dict[str, Any]]:
        where = f"{self.source}: initial_trials[{index}]"
        params = dict(entry.get("params") or {})
        values = {**{family: entry[family] for family in FAMILIES}, **params}
        for key in TRAINING_CHOICES:
            if key not in entry:
                continue
            setting = self.training.get(key)
            if isinstance(setting, list):
                if entry[key] not in setting:
                    raise SearchSpaceError(f"{where}: {key} must be one of training.{key} {setting}; got "
                                           f"{entry[key]!r}.")
                values[f"training.{key}"] = entry[key]
            elif entry[key] != setting:
                raise SearchSpaceError(f"{where}: {key} is fixed to {setting} by training.{key}; got "
                                       f"{entry[key]!r}. Leave it out, or list it in training.{key}.")
        for family in FAMILIES:
            if entry[family] not in names[family]:
                raise SearchSpaceError(
                    f"{where}: {family} {entry[family]!r} is not one this space samples here; choose one of: "
                    f"{', '.join(names[family])}.")
        driver = RecordingDriver(FixedDriver(values, fill_defaults=True))
        try:
            candidate = self._sample(driver, registry, names)
        except HyperparameterError as exc:
            raise SearchSpaceError(f"{where}: {exc}") from None
        unknown = sorted(set(params) - set(driver.asked))
        if unknown:
            chosen = [n for n in driver.asked if n.split(".", 1)[0] in {entry[f] for f in FAMILIES}]
            raise SearchSpaceError(f"{where}: parameter(s) {unknown} are not declared by the plugins it names; "
                                   f"they declare: {', '.join(chosen) or 'none'}.")
        return candidate, driver.sampled

    def _sample(self, driver: Driver, registry: Registry, names: dict[str, list[str]]) -> Candidate:
        chosen: dict[str, str] = {}
        params: dict[str, Any] = {}
        for family in FAMILIES:
            name = driver.suggest(ChoiceParam(family, tuple(names[family])), None)
            plugin = registry.get(family, name).plugin
            hp = PluginHP(name, driver, condition=(family, name), overrides=self.families[family][name],
                          where=f"{self.source}: {family}s.{name}")
            plugin.space(hp)
            chosen[family] = name
            params.update(hp.values)
        training: dict[str, Any] = {}
        for key in ("batch_size", "max_epochs", "patience", "image_size", "loss"):
            value = self.training.get(key)
            training[key] = driver.suggest(ChoiceParam(f"training.{key}", tuple(value)), None) \
                if isinstance(value, list) else value
        return Candidate(chosen["architecture"], chosen["augmentation"], chosen["optimizer"], params, **training)

    def to_dict(self) -> dict[str, Any]:
        """The resolved space in the YAML form: ``SearchSpace.from_dict(space.to_dict())`` gives it back."""
        data: dict[str, Any] = {"objective": self.objective, "description": self.description}
        data.update({key: self.families[family] for key, family in FAMILY_KEYS.items()})
        data["training"] = self.training
        if self.initial_trials:
            data["initial_trials"] = self.initial_trials
        return data


def builtin_spaces() -> dict[str, Path]:
    """The search spaces shipped in the ``automl_search_spaces`` package, by name."""
    folder = resources.files("automl_search_spaces")
    return {Path(p.name).stem: Path(str(p)) for p in folder.iterdir() if p.name.endswith(".yaml")}


def _family_selection(value: Any, family: str, registry: Registry, where: str) -> dict[str, dict[str, Any]]:
    installed = registry.family(family)
    if value in ("all", "*", None):
        return {name: {} for name in sorted(installed)}
    if isinstance(value, list):
        value = {name: {} for name in value}
    if not isinstance(value, Mapping):
        raise SearchSpaceError(f"{where}: expected 'all', a list of plugin names, or a mapping name -> overrides; got {value!r}.")
    if not value:
        raise SearchSpaceError(f"{where}: lists no plugin; name at least one of: {', '.join(sorted(installed))}.")
    selection = {}
    for name, overrides in value.items():
        if name not in installed:
            raise SearchSpaceError(
                f"{where}: unknown {family} plugin {name!r}; installed: {', '.join(sorted(installed)) or 'none'}."
            )
        if overrides is None:
            overrides = {}
        if not isinstance(overrides, Mapping):
            raise SearchSpaceError(f"{where}.{name}: expected a mapping of parameter overrides; got {overrides!r}.")
        selection[name] = dict(overrides)
    return selection


def _initial_trials(value: Any, where: str) -> list[dict[str, Any]]:
    """The form of ``initial_trials``; what the values mean is checked against the plugins afterwards."""
    if not isinstance(value, list):
        raise SearchSpaceError(f"{where}: expected a list of configurations; got {value!r}.")
    entries = []
    for index, entry in enumerate(value):
        at = f"{where}[{index}]"
        if not isinstance(entry, Mapping):
            raise SearchSpaceError(f"{at}: expected a mapping with {', '.join(FAMILIES)} (and optional params, "
                                   f"{', '.join(TRAINING_CHOICES)}); got {entry!r}.")
        unknown = set(entry) - set(INITIAL_TRIAL_KEYS)
        if unknown:
            raise SearchSpaceError(f"{at}: unknown key(s) {sorted(unknown)}; allowed: {', '.join(INITIAL_TRIAL_KEYS)}.")
        missing = [family for family in FAMILIES if family not in entry]
        if missing:
            raise SearchSpaceError(f"{at}: names no {' / '.join(missing)}; an initial trial names one plugin of "
                                   f"each family ({', '.join(FAMILIES)}).")
        params = entry.get("params") or {}
        if not isinstance(params, Mapping) or not all(isinstance(k, str) and "." in k for k in params):
            raise SearchSpaceError(f"{at}.params: expected a mapping of full parameter names (plugin.param, e.g. "
                                   f"cnn.filters) to values; got {params!r}.")
        entries.append({**dict(entry), "params": dict(params)})
    return entries


@dataclass(frozen=True)
class Constraints:
    """Deployment limits a trial's model must meet (``training.max_params`` / ``training.max_latency_ms``, or
    ``--max-params`` / ``--max-latency-ms``). A model over ``max_params`` is pruned before it trains; its batch-1
    prediction latency is measured after its first epoch, and a model over ``max_latency_ms`` is pruned there."""

    max_params: int | None = None
    max_latency_ms: float | None = None
    # The second objective of --objectives (training.trade_off, one of TRADE_OFFS): measured for every trial, and
    # told to the trial's reporter as soon as it is known (pruning may weigh it).
    trade_off: str | None = None

    @classmethod
    def from_training(cls, training: dict[str, Any]) -> Constraints:
        return cls(training.get("max_params"), training.get("max_latency_ms"), trade_off=training.get("trade_off"))

    @property
    def has_limits(self) -> bool:
        return self.max_params is not None or self.max_latency_ms is not None

    @property
    def measures_latency(self) -> bool:
        """Whether a trial's batch-1 latency is measured: for a limit, or as the second objective."""
        return self.max_latency_ms is not None or self.trade_off == "latency_ms"

    def params_violation(self, count: int) -> str | None:
        if self.max_params is not None and count > self.max_params:
            return f"params {count:,} > {self.max_params:,} (--max-params)"
        return None

    def latency_violation(self, milliseconds: float) -> str | None:
        if self.max_latency_ms is not None and milliseconds > self.max_latency_ms:
            return f"latency {milliseconds:.2f} ms > {self.max_latency_ms:g} ms (--max-latency-ms)"
        return None


def _training(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise SearchSpaceError(f"{where}: expected a mapping; got {value!r}.")
    allowed = set(TRAINING_DEFAULTS) | {"learning_rate", "image_size", "first_rung", "continue_best", "early_stopping",
                                        "class_weight", "trade_off", "loss", *CONSTRAINT_KEYS}
    unknown = set(value) - allowed
    if unknown:
        raise SearchSpaceError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}.")
    training = {**TRAINING_DEFAULTS, **value}
    for key in TRAINING_DEFAULTS:
        item = training[key]
        values = item if isinstance(item, list) else [item]
        if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
            raise SearchSpaceError(f"{where}.{key}: expected a positive integer or a list of them; got {item!r}.")
        if key != "batch_size" and isinstance(item, list):
            raise SearchSpaceError(f"{where}.{key}: expected one positive integer; got a list {item!r}.")
    image_size = training.get("image_size")
    if image_size is not None:
        sizes = image_size if isinstance(image_size, list) else [image_size]
        if not sizes or any(isinstance(v, bool) or not isinstance(v, int) or v < MIN_IMAGE_SIDE for v in sizes):
            raise SearchSpaceError(f"{where}.image_size: expected the input's long side in pixels, an integer of at "
                                   f"least {MIN_IMAGE_SIDE} or a list of them (e.g. [48, 64, 96]); got {image_size!r}.")
        if isinstance(image_size, list) and len(set(sizes)) != len(sizes):
            raise SearchSpaceError(f"{where}.image_size: lists a long side twice; list each size once; got {image_size!r}.")
    loss = training.get("loss")
    if loss is not None:
        losses = loss if isinstance(loss, list) else [loss]
        if not losses or any(value not in REGRESSION_LOSSES for value in losses) or len(set(losses)) != len(losses):
            raise SearchSpaceError(f"{where}.loss: expected a regression loss, one of {', '.join(REGRESSION_LOSSES)}, "
                                   f"or a list of them to search (each once); got {loss!r}.")
    first_rung = training.get("first_rung")
    if first_rung is not None and (isinstance(first_rung, bool) or not isinstance(first_rung, int)
                                   or not 1 <= first_rung <= training["max_epochs"]):
        raise SearchSpaceError(f"{where}.first_rung: expected the first epoch at which the pruner may stop a trial, "
                               f"an integer from 1 to max_epochs ({training['max_epochs']}); got {first_rung!r}.")
    share = training.get("continue_best")
    if share is not None and (isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < 1):
        raise SearchSpaceError(f"{where}.continue_best: expected the share of a --time-budget that goes to "
                               f"continuing the best trial, a number between 0 and 1 (e.g. 0.4); got {share!r}.")
    stopping = training.get("early_stopping")
    if stopping is not None:
        expected = (f"expected {{monitor: {' or '.join(EARLY_STOPPING_MONITORS)}, from_epoch: N}} with N the first "
                    f"epoch (0-based, below max_epochs {training['max_epochs']}) at which early stopping may judge")
        if not isinstance(stopping, Mapping) or set(stopping) - {"monitor", "from_epoch"}:
            raise SearchSpaceError(f"{where}.early_stopping: {expected}; got {stopping!r}.")
        from_epoch = stopping.get("from_epoch", 0)
        if stopping.get("monitor", "val_loss") not in EARLY_STOPPING_MONITORS or isinstance(from_epoch, bool) \
                or not isinstance(from_epoch, int) or not 0 <= from_epoch < training["max_epochs"]:
            raise SearchSpaceError(f"{where}.early_stopping: {expected}; got {dict(stopping)!r}.")
    max_params = training.get("max_params")
    if max_params is not None and (isinstance(max_params, bool) or not isinstance(max_params, int) or max_params < 1):
        raise SearchSpaceError(f"{where}.max_params: expected the most parameters a trial's model may have, a positive "
                               f"integer (e.g. 200000); got {max_params!r}.")
    trade_off = training.get("trade_off")
    if trade_off is not None and trade_off not in TRADE_OFFS:
        raise SearchSpaceError(f"{where}.trade_off: expected the second objective, one of {', '.join(TRADE_OFFS)} "
                               f"(minimised beside the objective); got {trade_off!r}.")
    max_latency = training.get("max_latency_ms")
    if max_latency is not None and (isinstance(max_latency, bool) or not isinstance(max_latency, (int, float))
                                    or not max_latency > 0):
        raise SearchSpaceError(f"{where}.max_latency_ms: expected the longest batch-1 prediction a trial's model may "
                               f"take, in milliseconds (e.g. 5); got {max_latency!r}.")
    if "class_weight" in training:  # kept as written (labels as text; none: left out), checked against the data later
        weights = check_class_weight(training.pop("class_weight"), f"{where}.class_weight", SearchSpaceError)
        if weights is not None:
            training["class_weight"] = weights
    lr = training.get("learning_rate")
    if lr is not None and not isinstance(lr, (Mapping, list, int, float)):
        raise SearchSpaceError(f"{where}.learning_rate: expected a number, a list, or {{low, high}}; got {lr!r}.")
    return training
