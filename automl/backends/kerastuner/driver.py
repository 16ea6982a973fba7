"""Declaring automl's search space to KerasTuner and sampling candidates through its ``HyperParameters``."""

from __future__ import annotations

from typing import Any

from automl.errors import HyperparameterError
from automl.hp import ChoiceParam, Driver, FixedParam, FloatParam, IntParam, Param, Scalar
from automl.plugin import FAMILIES
from automl.plugin_manager import Registry
from automl.search_space import SearchSpace


class KerasTunerDriver(Driver):
    """Samples from ``keras_tuner.HyperParameters``; a plugin's parameters are declared inside a
    conditional scope of their family selector, so KerasTuner treats them as conditional.

    A choice always answers with one of its declared options, never with KerasTuner's copy of it:

    * KerasTuner's ``Choice`` standardises on ``int``, so ``[False, True]`` comes back as ``0`` / ``1``;
      the option equal to the value (of the same type where there is one) is returned instead.
    * KerasTuner rejects a choice whose options are not all of one type among bool, int, float and str
      (``[None, 3]``, ``[1, 0.5]``, ``["auto", 4]``). Such a choice is declared by its options' reprs
      (``"None"``, ``"3"``: readable in the stored state, and stable if the plugin reorders its options)
      and each key is mapped back to its option.
    """

    def __init__(self, hp: Any) -> None:
        self.hp = hp

    def suggest(self, param: Param, condition: tuple[str, str] | None) -> Any:
        if isinstance(param, FixedParam):
            return param.value
        # A condition's parent is a family selector: a choice of plugin names (str), never declared by key.
        if condition is None:
            return self._declare(param)
        with self.hp.conditional_scope(condition[0], [condition[1]]):
            value = self._declare(param)
        # Outside an active scope KerasTuner returns None; the plugin is selected, so that cannot happen.
        return value

    def _declare(self, param: Param) -> Any:
        hp = self.hp
        if isinstance(param, IntParam):
            # KerasTuner reads `step` as a multiplier on a log scale, so log ints take step=None.
            return hp.Int(param.name, param.low, param.high, step=None if param.log else param.step,
                          sampling="log" if param.log else "linear", default=param.initial)
        if isinstance(param, FloatParam):
            return hp.Float(param.name, param.low, param.high,
                            sampling="log" if param.log else "linear", default=param.initial)
        if isinstance(param, ChoiceParam):
            keys = kerastuner_choice_keys(param)
            if keys is None:
                value = hp.Choice(param.name, list(param.options), default=param.initial)
                return None if value is None else _declared_option(param, value)
            # The default's own key: an equal option's (a default 1.0 of [1, 0.5] is the option 1).
            value = hp.Choice(param.name, list(keys), default=repr(_declared_option(param, param.initial)))
            if value is None:  # an inactive scope
                return None
            if value not in keys:
                raise HyperparameterError(
                    f"{param.name} must be one of {list(param.options)}; KerasTuner holds {value!r}, which is "
                    f"none of their keys {list(keys)} (was the search space changed?)."
                )
            return keys[value]
        raise TypeError(f"unsupported parameter {param!r}")


_KERASTUNER_CHOICE_TYPES = (bool, int, float, str)


def kerastuner_choice_keys(param: ChoiceParam) -> dict[str, Scalar] | None:
    """How :class:`KerasTunerDriver` declares ``param``: None when KerasTuner takes its options as they
    are (all of one type among bool, int, float and str), else ``{repr(option): option}`` in order."""
    types = {type(option) for option in param.options}
    if len(types) == 1 and next(iter(types)) in _KERASTUNER_CHOICE_TYPES:
        return None
    keys: dict[str, Scalar] = {}
    for option in param.options:  # by repr, not by equality: 1 and True are different options here
        keys.setdefault(repr(option), option)
    return keys


def _declared_option(param: ChoiceParam, value: Any) -> Scalar:
    """The declared option equal to ``value`` (KerasTuner's ``1`` for ``True``), of the same type if any."""
    equal = [option for option in param.options if option is value or option == value]
    if not equal:
        raise HyperparameterError(
            f"{param.name} must be one of {list(param.options)}; KerasTuner holds {value!r} "
            "(was the search space changed?)."
        )
    return next((option for option in equal if type(option) is type(value)), equal[0])


class DeclaringDriver(Driver):
    """Registers each parameter in a ``HyperParameters`` (conditional on its plugin) and answers with the
    default, or with ``forced`` values for the family selectors, so one pass can walk any plugin."""

    def __init__(self, hp: Any, forced: dict[str, str]) -> None:
        self.kt_driver, self.forced = KerasTunerDriver(hp), forced

    def suggest(self, param: Param, condition: tuple[str, str] | None) -> Any:
        self.kt_driver.suggest(param, condition)
        if param.name in self.forced:
            return self.forced[param.name]
        return param.value if isinstance(param, FixedParam) else param.initial


def declare_space(space: SearchSpace, registry: Registry, task: str):
    """Every plugin's parameters in one ``keras_tuner.HyperParameters``, before the first trial.

    The space is define-by-run: left alone, an oracle would learn a plugin's parameters only after a trial
    had chosen that plugin (and run it with the defaults). Walking each plugin of each family once lets
    Random and Bayesian sample every parameter from the first trial on. Parameters a plugin declares only
    for some values of another one are still added when a trial first meets them.
    """
    import keras_tuner as kt

    hp = kt.HyperParameters()
    names = space.for_task(task, registry)
    for family in FAMILIES:
        for name in names[family]:
            try:
                space.sample(DeclaringDriver(hp, {family: name}), registry, task)
            except Exception:  # a plugin's space() raised: the trial that picks it records why
                continue
    return hp


# --- the backend -------------------------------------------------------------------------------------------
