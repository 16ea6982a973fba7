"""The backend-neutral hyperparameter interface.

A plugin declares its own space *by running*: its ``space(hp)`` method calls ``hp.int``, ``hp.float``
and ``hp.choice`` and returns the values it got. What stands behind ``hp`` decides where the values come
from — an Optuna trial, KerasTuner's ``HyperParameters``, a fixed configuration being rebuilt, or the
declared defaults. Because ``space`` only runs for the plugin that was selected, every parameter is
conditional on its plugin for free, and names are namespaced ``plugin.param`` by :class:`PluginHP`.

A search space may narrow or override a declaration (see :meth:`Param.narrow`): a scalar fixes the value,
a list gives the choices, a mapping sets ``low`` / ``high`` / ``log`` / ``step`` (the new range may also
lie outside the plugin's own; sampled values are then rebuilt with ``FixedDriver(check=False)``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from automl.errors import HyperparameterError

Scalar = bool | int | float | str | None


# --- declarations --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Param(ABC):
    """One declared hyperparameter; ``name`` is the full namespaced name (``cnn.filters``)."""

    name: str

    @abstractmethod
    def validate(self, value: Any) -> Any:
        """Return ``value`` (normalised) if it obeys this declaration, else raise HyperparameterError."""

    @abstractmethod
    def narrow(self, override: Any, where: str) -> Param:
        """Return this declaration restricted by a search-space override (``where`` names its origin)."""

    @abstractmethod
    def describe(self) -> str:
        """A short human description, e.g. ``int [1, 3]`` or ``float [1e-4, 1e-2] log``."""

    @property
    @abstractmethod
    def initial(self) -> Any:
        """The value a trial takes when nothing samples this parameter: the default, else a middle value."""

    def validate_override(self, value: Any, where: str) -> Any:
        """:meth:`validate`, with the search-space location prefixed to the error."""
        try:
            return self.validate(value)
        except HyperparameterError as exc:
            raise HyperparameterError(f"{where}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        data = {"name": self.name, "type": type(self).__name__.removesuffix("Param").lower()}
        data.update({k: v for k, v in self.__dict__.items() if k != "name"})
        return data


def _fixed(param: Param, override: Any, where: str) -> FixedParam:
    return FixedParam(param.name, param.validate_override(override, where))


class _RangeParam(Param):
    """Shared by int and float: a mapping narrows the range, a list becomes a choice, a scalar fixes it."""

    def narrow(self, override: Any, where: str) -> Param:
        if isinstance(override, Mapping):
            assert isinstance(self, (IntParam, FloatParam))  # the only two range kinds
            return _narrow_range(self, override, where, int if isinstance(self, IntParam) else float)
        if isinstance(override, Sequence) and not isinstance(override, str):
            return ChoiceParam(self.name, tuple(self.validate_override(v, where) for v in override))
        return _fixed(self, override, where)


@dataclass(frozen=True)
class IntParam(_RangeParam):
    low: int
    high: int
    step: int = 1
    log: bool = False
    default: int | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.low, int) and isinstance(self.high, int)) or self.low > self.high:
            raise HyperparameterError(
                f"{self.name}: an int parameter needs integer bounds with low <= high; "
                f"got low={self.low!r}, high={self.high!r}."
            )
        if self.log and (self.low < 1 or self.step != 1):
            raise HyperparameterError(
                f"{self.name}: a log-scale int needs low >= 1 and step 1; got low={self.low}, step={self.step}."
            )
        if self.default is not None:
            self.validate(self.default)

    def validate(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise HyperparameterError(f"{self.name} must be an integer in [{self.low}, {self.high}]; got {value!r}.")
        value = int(value)
        if not self.low <= value <= self.high:
            raise HyperparameterError(f"{self.name} must be in [{self.low}, {self.high}]; got {value}.")
        return value

    @property
    def initial(self) -> int:
        if self.default is not None:
            return self.default
        if self.log:
            return int(round(math.sqrt(self.low * self.high)))
        return self.low + ((self.high - self.low) // self.step // 2) * self.step

    def describe(self) -> str:
        extra = (" log" if self.log else "") + (f" step {self.step}" if self.step != 1 else "")
        return f"int [{self.low}, {self.high}]{extra}"


@dataclass(frozen=True)
class FloatParam(_RangeParam):
    low: float
    high: float
    log: bool = False
    default: float | None = None

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise HyperparameterError(f"{self.name}: a float parameter needs low <= high; got [{self.low}, {self.high}].")
        if self.log and self.low <= 0:
            raise HyperparameterError(f"{self.name}: a log-scale float needs low > 0; got low={self.low}.")
        if self.default is not None:
            self.validate(self.default)

    def validate(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise HyperparameterError(f"{self.name} must be a finite number in [{self.low}, {self.high}]; got {value!r}.")
        # Tolerate float round-off at the bounds (Optuna's log sampling can land 1 ulp outside).
        if not self.low * (1 - 1e-9) - 1e-12 <= value <= self.high * (1 + 1e-9) + 1e-12:
            raise HyperparameterError(f"{self.name} must be in [{self.low}, {self.high}]; got {value}.")
        return float(value)

    @property
    def initial(self) -> float:
        if self.default is not None:
            return self.default
        return math.sqrt(self.low * self.high) if self.log else (self.low + self.high) / 2

    def describe(self) -> str:
        return f"float [{self.low:g}, {self.high:g}]" + (" log" if self.log else "")


@dataclass(frozen=True)
class ChoiceParam(Param):
    options: tuple[Scalar, ...]
    default: Scalar = None

    def __post_init__(self) -> None:
        if not self.options:
            raise HyperparameterError(f"{self.name}: a choice needs at least one option; got none.")
        for option in self.options:
            if option is not None and not isinstance(option, (bool, int, float, str)):
                raise HyperparameterError(
                    f"{self.name}: choice options must be None, bool, int, float or str (so every backend can "
                    f"store them); got {option!r} of type {type(option).__name__}."
                )
        if self.default is not None and self.default not in self.options:
            raise HyperparameterError(f"{self.name}: default {self.default!r} is not one of {list(self.options)}.")

    def validate(self, value: Any) -> Scalar:
        if value not in self.options:
            raise HyperparameterError(f"{self.name} must be one of {list(self.options)}; got {value!r}.")
        return value

    def narrow(self, override: Any, where: str) -> Param:
        if isinstance(override, Mapping):
            raise HyperparameterError(
                f"{where}: {self.name} is a choice of {list(self.options)}; narrow it with a list of options "
                f"or fix it with one value, not a mapping ({dict(override)!r})."
            )
        if isinstance(override, Sequence) and not isinstance(override, str):
            return ChoiceParam(self.name, tuple(self.validate_override(v, where) for v in override))
        return _fixed(self, override, where)

    @property
    def initial(self) -> Scalar:
        return self.default if self.default is not None else self.options[0]

    def describe(self) -> str:
        return "choice " + ", ".join(map(str, self.options))


@dataclass(frozen=True)
class FixedParam(Param):
    """A value fixed by the search space; it is recorded but never sampled."""

    value: Scalar

    def validate(self, value: Any) -> Any:
        if value != self.value:
            raise HyperparameterError(f"{self.name} is fixed to {self.value!r} by the search space; got {value!r}.")
        return value

    def narrow(self, override: Any, where: str) -> Param:
        return FixedParam(self.name, override)

    @property
    def initial(self) -> Scalar:
        return self.value

    def describe(self) -> str:
        return f"fixed {self.value!r}"


_RANGE_KEYS = {"low", "high", "log", "step"}


def _narrow_range(param: IntParam | FloatParam, override: Mapping, where: str, kind: type) -> Param:
    unknown = set(override) - _RANGE_KEYS
    if unknown:
        raise HyperparameterError(
            f"{where}: unknown key(s) {sorted(unknown)} for {param.name}; allowed: {sorted(_RANGE_KEYS)}."
        )
    changes = {k: v for k, v in override.items() if k != "step" or kind is int}
    for key in ("low", "high", "step"):
        value = changes.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or (kind is int and int(value) != value)):
            raise HyperparameterError(
                f"{where}: {key} of {param.name} must be {'an integer' if kind is int else 'a number'}; got {value!r}."
            )
    if kind is int:
        changes.update({k: int(v) for k, v in changes.items() if k in ("low", "high", "step")})
    else:
        changes.update({k: float(v) for k, v in changes.items() if k in ("low", "high")})
    low, high = changes.get("low", param.low), changes.get("high", param.high)
    if param.default is not None and not low <= param.default <= high:
        changes["default"] = None  # the plugin's default lies outside the new range
    try:
        return replace(param, **changes)
    except HyperparameterError as exc:
        raise HyperparameterError(f"{where}: {exc}") from None


# --- drivers: where the values come from ---------------------------------------------------------------
class Driver(ABC):
    """Supplies a value for each declared parameter. ``condition`` is ``(selector, choice)``: the
    parameter exists only when the family selector (e.g. ``architecture``) equals the plugin's name."""

    @abstractmethod
    def suggest(self, param: Param, condition: tuple[str, str] | None) -> Any: ...


class DefaultsDriver(Driver):
    """Returns each declaration's default and remembers every declaration it saw."""

    def __init__(self) -> None:
        self.declared: list[Param] = []

    def suggest(self, param: Param, condition: tuple[str, str] | None) -> Any:
        self.declared.append(param)
        return param.initial


class FixedDriver(Driver):
    """Rebuilds a known configuration: every value comes from ``values`` and is checked against its
    declaration (unless ``check=False``). Parameters missing from ``values`` take their default when ``fill_defaults`` is set."""

    def __init__(self, values: Mapping[str, Any], *, fill_defaults: bool = False, check: bool = True) -> None:
        self.values = dict(values)
        self.fill_defaults = fill_defaults
        # check=False rebuilds a candidate a backend sampled: its values obey the search space's
        # declaration, which may override the plugin's own range.
        self.check = check

    def suggest(self, param: Param, condition: tuple[str, str] | None) -> Any:
        if param.name in self.values:
            value = self.values[param.name]
            return param.validate(value) if self.check else value
        if isinstance(param, FixedParam) or self.fill_defaults:
            return param.initial
        raise HyperparameterError(
            f"{param.name} is declared by the plugin but missing from the given configuration "
            f"(which has {sorted(self.values)}); add it or rebuild with fill_defaults=True."
        )


class RecordingDriver(Driver):
    """Asks ``inner`` and remembers each answer: ``asked`` holds every parameter name, ``declared`` every
    declaration, ``sampled`` the values a backend would sample (fixed parameters left out), e.g. to queue a
    known configuration."""

    def __init__(self, inner: Driver) -> None:
        self.inner = inner
        self.asked: list[str] = []
        self.declared: list[Param] = []
        self.sampled: dict[str, Any] = {}

    def suggest(self, param: Param, condition: tuple[str, str] | None) -> Any:
        value = self.inner.suggest(param, condition)
        self.asked.append(param.name)
        self.declared.append(param)
        if not isinstance(param, FixedParam):
            self.sampled[param.name] = param.validate(value)  # a filled-in default must obey the range too
        return value


# --- what a plugin sees ---------------------------------------------------------------------------------
@dataclass
class PluginHP:
    """The ``hp`` object handed to ``plugin.space(hp)``.

    It prefixes names with the plugin's name, applies the search space's overrides, asks the driver,
    and records every value in :attr:`values` (full names), which is what a trial stores.
    """

    plugin: str
    driver: Driver
    condition: tuple[str, str] | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    where: str = "search space"
    values: dict[str, Any] = field(default_factory=dict)

    def int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False,
            default: int | None = None) -> int:
        """An integer in ``[low, high]`` (inclusive), optionally on a log scale."""
        return self._ask(IntParam(self._full(name), low, high, step=step, log=log, default=default))

    def float(self, name: str, low: float, high: float, *, log: bool = False,
              default: float | None = None) -> float:
        """A float in ``[low, high]``, optionally on a log scale."""
        return self._ask(FloatParam(self._full(name), float(low), float(high), log=log, default=default))

    def choice(self, name: str, options: Sequence[Scalar], *, default: Scalar = None) -> Any:
        """One of ``options`` (None, bool, int, float or str values)."""
        return self._ask(ChoiceParam(self._full(name), tuple(options), default=default))

    def _full(self, name: str) -> str:
        if not name or "." in name:
            raise HyperparameterError(
                f"plugin {self.plugin!r} declared parameter {name!r}; names must be non-empty and contain no '.' "
                "(automl adds the plugin prefix itself)."
            )
        return f"{self.plugin}.{name}"

    def _ask(self, param: Param) -> Any:
        if param.name in self.values:
            raise HyperparameterError(f"plugin {self.plugin!r} declared {param.name!r} twice in one space().")
        short = param.name.split(".", 1)[1]
        if short in self.overrides:
            param = param.narrow(self.overrides[short], f"{self.where}: {param.name}")
        value = self.driver.suggest(param, self.condition)
        self.values[param.name] = value
        return value


def declared_params(plugin: Any, overrides: Mapping[str, Any] | None = None, where: str = "search space") -> list[Param]:
    """Run ``plugin.space`` with defaults and return what it declared (after ``overrides``)."""
    driver = DefaultsDriver()
    plugin.space(PluginHP(plugin.name, driver, overrides=overrides or {}, where=where))
    return driver.declared


class RandomDriver(Driver):
    """Samples uniformly (log-uniformly where declared) from a seeded generator — for tests and the
    plugin contract suite, which must try more than the defaults."""

    def __init__(self, seed: int = 0) -> None:
        import random

        self.rng = random.Random(seed)

    def suggest(self, param: Param, condition: tuple[str, str] | None) -> Any:
        rng = self.rng
        if isinstance(param, FixedParam):
            return param.value
        if isinstance(param, ChoiceParam):
            return rng.choice(param.options)
        if isinstance(param, IntParam):
            if param.log:
                drawn = math.exp(rng.uniform(math.log(param.low), math.log(param.high)))
                return param.validate(min(param.high, int(round(drawn))))
            return rng.randrange(param.low, param.high + 1, param.step)
        if isinstance(param, FloatParam):
            if param.log:
                return math.exp(rng.uniform(math.log(param.low), math.log(param.high)))
            return rng.uniform(param.low, param.high)
        raise TypeError(f"unsupported parameter {param!r}")
