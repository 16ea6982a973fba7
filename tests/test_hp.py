"""The backend-neutral hyperparameter interface (automl.hp): declarations, overrides, PluginHP and the
drivers, including the Optuna and KerasTuner ones against the real libraries."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from automl import Architecture
from automl.backends.kerastuner.driver import KerasTunerDriver
from automl.backends.optuna_backend import OptunaDriver
from automl.errors import AutomlError, HyperparameterError
from automl.hp import (
    ChoiceParam,
    DefaultsDriver,
    FixedDriver,
    FixedParam,
    FloatParam,
    IntParam,
    PluginHP,
    RandomDriver,
    declared_params,
)
from automl.plugin_manager import build_registry

WHERE = "my_space.yaml: architectures.toy"


class Toy(Architecture):
    """A plugin whose space uses every kind of declaration."""

    name = "toy"

    def space(self, hp):
        return {
            "depth": hp.int("depth", 1, 4, default=2),
            "width": hp.int("width", 8, 512, log=True),
            "stride": hp.int("stride", 0, 10, step=5),
            "rate": hp.float("rate", 1e-5, 1e-1, log=True, default=1e-3),
            "dropout": hp.float("dropout", 0.0, 0.5),
            "act": hp.choice("act", ["relu", "gelu", "tanh"]),
            "norm": hp.choice("norm", [False, True], default=True),
        }

    def build(self, inputs, params, context):  # pragma: no cover - never built here
        return inputs


TOY_NAMES = {f"toy.{n}" for n in ("depth", "width", "stride", "rate", "dropout", "act", "norm")}


def raises_naming(*fragments: str):
    """pytest.raises(HyperparameterError) whose message contains every fragment literally."""
    return pytest.raises(HyperparameterError, match="".join(f"(?=[\\s\\S]*{re.escape(f)})" for f in fragments))


# --- declarations and validation -----------------------------------------------------------------------
@pytest.mark.parametrize(("param", "value", "fragments"), [
    (IntParam("cnn.filters", 16, 128), 200, ["cnn.filters", "200", "[16, 128]"]),
    (IntParam("cnn.filters", 16, 128), 15, ["cnn.filters", "15"]),
    (IntParam("cnn.filters", 16, 128), 32.5, ["cnn.filters", "32.5", "integer"]),
    (IntParam("cnn.filters", 16, 128), "32", ["cnn.filters", "'32'"]),
    (IntParam("mlp.layers", 0, 3), True, ["mlp.layers", "True"]),
    (FloatParam("mlp.dropout", 0.0, 0.5), 0.75, ["mlp.dropout", "0.75", "[0.0, 0.5]"]),
    (FloatParam("mlp.dropout", 0.0, 0.5), float("nan"), ["mlp.dropout", "nan", "finite"]),
    (FloatParam("mlp.dropout", 0.0, 0.5), "0.1", ["mlp.dropout", "'0.1'"]),
    (FloatParam("mlp.dropout", 0.0, 0.5), False, ["mlp.dropout", "False"]),
    (ChoiceParam("mlp.activation", ("relu", "gelu")), "tanh", ["mlp.activation", "'tanh'", "'relu'", "'gelu'"]),
    (ChoiceParam("cnn.kernel_size", (3, 5)), 4, ["cnn.kernel_size", "4", "[3, 5]"]),
    (FixedParam("cnn.blocks", 2), 3, ["cnn.blocks", "fixed", "2", "3"]),
])
def test_validation_error_names_parameter_and_value(param, value, fragments):
    with raises_naming(*fragments):
        param.validate(value)


def test_validation_accepts_and_normalises_good_values():
    assert IntParam("a.n", 1, 3).validate(3.0) == 3 and type(IntParam("a.n", 1, 3).validate(3.0)) is int
    assert type(FloatParam("a.x", 0.0, 2.0).validate(1)) is float
    assert FloatParam("a.x", 1e-4, 1e-2, log=True).validate(1e-2 * (1 + 1e-12)) == pytest.approx(1e-2)
    assert ChoiceParam("a.c", (False, True)).validate(True) is True
    assert FixedParam("a.f", "x").validate("x") == "x"


@pytest.mark.parametrize(("make", "fragments"), [
    (lambda: IntParam("p.n", 5, 1), ["p.n", "low=5", "high=1"]),
    (lambda: IntParam("p.n", 1.5, 4), ["p.n", "1.5"]),
    (lambda: IntParam("p.n", 0, 8, log=True), ["p.n", "log", "low=0"]),
    (lambda: IntParam("p.n", 1, 8, step=2, log=True), ["p.n", "step"]),
    (lambda: IntParam("p.n", 1, 8, default=9), ["p.n", "9"]),
    (lambda: FloatParam("p.x", 1.0, 0.5), ["p.x", "low <= high"]),
    (lambda: FloatParam("p.x", 0.0, 1.0, log=True), ["p.x", "log", "low=0.0"]),
    (lambda: FloatParam("p.x", 0.0, 1.0, default=2.0), ["p.x", "2.0"]),
    (lambda: ChoiceParam("p.c", ()), ["p.c", "at least one option"]),
    (lambda: ChoiceParam("p.c", ([1, 2], 3)), ["p.c", "[1, 2]", "list"]),
    (lambda: ChoiceParam("p.c", ("a", "b"), default="c"), ["p.c", "'c'"]),
])
def test_invalid_declaration_is_rejected_with_its_name(make, fragments):
    with raises_naming(*fragments):
        make()


def test_hyperparameter_error_is_an_automl_error():
    assert issubclass(HyperparameterError, AutomlError)


def test_describe_and_to_dict():
    assert IntParam("a.n", 1, 3).describe() == "int [1, 3]"
    assert IntParam("a.n", 0, 10, step=5).describe() == "int [0, 10] step 5"
    assert FloatParam("a.x", 1e-4, 1e-2, log=True).describe() == "float [0.0001, 0.01] log"
    assert ChoiceParam("a.c", ("x", "y")).describe() == "choice x, y"
    assert FixedParam("a.f", 3).describe() == "fixed 3"
    assert IntParam("a.n", 1, 3, default=2).to_dict() == {
        "name": "a.n", "type": "int", "low": 1, "high": 3, "step": 1, "log": False, "default": 2}
    assert ChoiceParam("a.c", ("x",)).to_dict()["type"] == "choice"


# --- overrides -----------------------------------------------------------------------------------------
def test_scalar_override_fixes_the_value():
    narrowed = IntParam("cnn.filters", 16, 128, log=True).narrow(32, WHERE)
    assert narrowed == FixedParam("cnn.filters", 32)
    assert FloatParam("mlp.dropout", 0.0, 0.5).narrow(0, WHERE) == FixedParam("mlp.dropout", 0.0)
    assert ChoiceParam("mlp.activation", ("relu", "gelu")).narrow("gelu", WHERE) == FixedParam("mlp.activation", "gelu")


def test_list_override_becomes_a_choice():
    assert IntParam("cnn.blocks", 1, 3).narrow([1, 2], WHERE) == ChoiceParam("cnn.blocks", (1, 2))
    assert FloatParam("a.x", 0.0, 1.0).narrow((0.25, 0.5), WHERE) == ChoiceParam("a.x", (0.25, 0.5))
    assert ChoiceParam("a.c", ("x", "y", "z")).narrow(["z", "x"], WHERE) == ChoiceParam("a.c", ("z", "x"))


def test_mapping_override_sets_the_range():
    narrowed = IntParam("cnn.filters", 16, 128, log=True, default=100).narrow({"low": 16, "high": 48}, WHERE)
    assert isinstance(narrowed, IntParam)
    assert (narrowed.low, narrowed.high, narrowed.log) == (16, 48, True)
    assert narrowed.default is None  # the old default is outside the new range
    kept = IntParam("cnn.filters", 16, 128, default=32).narrow({"high": 64}, WHERE)
    assert (kept.low, kept.high, kept.default) == (16, 64, 32)
    assert IntParam("a.n", 0, 100).narrow({"step": 10}, WHERE).step == 10
    lin = FloatParam("a.lr", 1e-4, 1e-1, log=True).narrow({"low": 1e-3, "log": False}, WHERE)
    assert (lin.low, lin.high, lin.log) == (1e-3, 1e-1, False)


@pytest.mark.parametrize(("param", "override", "fragments"), [
    (IntParam("cnn.filters", 16, 128), 1000, [WHERE, "cnn.filters", "1000"]),
    (IntParam("cnn.filters", 16, 128), [16, 1000], [WHERE, "cnn.filters", "1000"]),
    (IntParam("cnn.filters", 16, 128), {"lo": 16}, [WHERE, "cnn.filters", "'lo'", "allowed"]),
    (FloatParam("mlp.dropout", 0.0, 0.5), {"low": 0.1, "maximum": 0.3}, [WHERE, "mlp.dropout", "'maximum'"]),
    (FloatParam("mlp.dropout", 0.0, 0.5), "high", [WHERE, "mlp.dropout", "'high'"]),
    (ChoiceParam("mlp.activation", ("relu", "gelu")), ["relu", "elu"], [WHERE, "mlp.activation", "'elu'"]),
    (ChoiceParam("mlp.activation", ("relu", "gelu")), {"low": 1}, [WHERE, "mlp.activation", "mapping"]),
    (ChoiceParam("cnn.batch_norm", (False, True)), "yes", [WHERE, "cnn.batch_norm", "'yes'"]),
])
def test_bad_override_names_where_key_and_value(param, override, fragments):
    with raises_naming(*fragments):
        param.narrow(override, WHERE)


@pytest.mark.parametrize(("override", "fragments"), [
    ({"low": 64, "high": 16}, ["low=64", "high=16"]),
    ({"low": 1.5}, ["1.5"]),
    ({"low": "zero"}, ["'zero'"]),
])
def test_invalid_range_override_names_where_and_key(override, fragments):
    with raises_naming(WHERE, "cnn.filters", *fragments):
        IntParam("cnn.filters", 16, 128).narrow(override, WHERE)
    # through PluginHP, as a search space applies it: `where` then ends with the full parameter name
    hp = PluginHP("mlp", DefaultsDriver(), overrides={"dropout": {"low": "zero"}}, where=WHERE)
    with raises_naming(WHERE, "mlp.dropout"):
        hp.float("dropout", 0.0, 0.5)


# --- PluginHP ------------------------------------------------------------------------------------------
def test_plugin_hp_namespaces_names_and_records_values():
    hp = PluginHP("cnn", DefaultsDriver())
    filters = hp.int("filters", 16, 128, default=32)
    rate = hp.float("rate", 0.0, 1.0)
    kind = hp.choice("kind", ["a", "b"])
    assert (filters, rate, kind) == (32, 0.5, "a")
    assert hp.values == {"cnn.filters": 32, "cnn.rate": 0.5, "cnn.kind": "a"}
    assert [p.name for p in hp.driver.declared] == ["cnn.filters", "cnn.rate", "cnn.kind"]


def test_plugin_hp_rejects_a_second_declaration_of_one_name():
    hp = PluginHP("cnn", DefaultsDriver())
    hp.int("filters", 16, 128)
    with raises_naming("'cnn'", "cnn.filters", "twice"):
        hp.float("filters", 0.0, 1.0)


@pytest.mark.parametrize("bad", ["a.b", "", ".x"])
def test_plugin_hp_rejects_names_with_a_dot_or_empty(bad):
    with raises_naming("'cnn'", repr(bad), "'.'"):
        PluginHP("cnn", DefaultsDriver()).int(bad, 1, 2)


def test_plugin_hp_applies_overrides_by_short_name():
    driver = DefaultsDriver()
    hp = PluginHP("toy", driver, overrides={"depth": 3, "act": ["gelu", "tanh"], "dropout": {"high": 0.2}},
                  where=WHERE)
    params = Toy().space(hp)
    declared = {p.name: p for p in driver.declared}
    assert declared["toy.depth"] == FixedParam("toy.depth", 3) and params["depth"] == 3
    assert declared["toy.act"] == ChoiceParam("toy.act", ("gelu", "tanh")) and params["act"] == "gelu"
    assert declared["toy.dropout"].high == 0.2 and params["dropout"] == pytest.approx(0.1)
    assert declared["toy.width"] == IntParam("toy.width", 8, 512, log=True)  # untouched
    with raises_naming(WHERE, "toy.depth", "9"):
        Toy().space(PluginHP("toy", DefaultsDriver(), overrides={"depth": 9}, where=WHERE))


def test_declared_params_lists_the_space_after_overrides():
    names = [p.name for p in declared_params(Toy())]
    assert set(names) == TOY_NAMES and len(names) == len(TOY_NAMES)
    narrowed = {p.name: p for p in declared_params(Toy(), {"width": 64})}
    assert narrowed["toy.width"] == FixedParam("toy.width", 64)


# --- drivers -------------------------------------------------------------------------------------------
def test_defaults_driver_returns_initial_values_and_records_declarations():
    driver = DefaultsDriver()
    params = Toy().space(PluginHP("toy", driver))
    assert params == {"depth": 2, "width": 64, "stride": 5, "rate": 1e-3, "dropout": 0.25, "act": "relu",
                      "norm": True}
    kinds = {p.name: type(p) for p in driver.declared}
    assert kinds == {"toy.depth": IntParam, "toy.width": IntParam, "toy.stride": IntParam, "toy.rate": FloatParam,
                     "toy.dropout": FloatParam, "toy.act": ChoiceParam, "toy.norm": ChoiceParam}


def test_fixed_driver_round_trip():
    for driver in (DefaultsDriver(), RandomDriver(seed=3)):
        sampled = PluginHP("toy", driver)
        params = Toy().space(sampled)
        rebuilt = PluginHP("toy", FixedDriver(sampled.values))
        assert Toy().space(rebuilt) == params
        assert rebuilt.values == sampled.values
    # a real built-in too
    cnn = build_registry(autoload=False).get("architecture", "cnn").plugin
    sampled = PluginHP("cnn", RandomDriver(seed=1))
    params = cnn.space(sampled)
    assert cnn.space(PluginHP("cnn", FixedDriver(sampled.values))) == params


def test_fixed_driver_missing_and_invalid_values():
    values = PluginHP("toy", DefaultsDriver())
    Toy().space(values)
    incomplete = {k: v for k, v in values.values.items() if k != "toy.rate"}
    with raises_naming("toy.rate", "missing", "fill_defaults"):
        Toy().space(PluginHP("toy", FixedDriver(incomplete)))
    filled = Toy().space(PluginHP("toy", FixedDriver(incomplete, fill_defaults=True)))
    assert filled["rate"] == 1e-3
    with raises_naming("toy.depth", "7"):
        Toy().space(PluginHP("toy", FixedDriver({**values.values, "toy.depth": 7})))
    # a value fixed by the search space need not be stored
    hp = PluginHP("toy", FixedDriver(incomplete), overrides={"rate": 0.01})
    assert Toy().space(hp)["rate"] == 0.01


def test_random_driver_respects_bounds_steps_and_log_scale():
    driver = RandomDriver(seed=0)
    log_int = IntParam("p.units", 1, 1000, log=True)
    log_float = FloatParam("p.lr", 1e-5, 1e-1, log=True)
    lin_float = FloatParam("p.x", 0.0, 1.0)
    stepped = IntParam("p.s", 0, 10, step=5)
    choice = ChoiceParam("p.c", ("a", "b", "c"))
    n = 2000
    ints = [driver.suggest(log_int, None) for _ in range(n)]
    logs = [driver.suggest(log_float, None) for _ in range(n)]
    lins = [driver.suggest(lin_float, None) for _ in range(n)]
    steps = {driver.suggest(stepped, None) for _ in range(200)}
    choices = Counter(driver.suggest(choice, None) for _ in range(300))
    assert all(isinstance(v, int) and 1 <= v <= 1000 for v in ints)
    assert all(log_float.validate(v) == v for v in logs)
    assert all(0.0 <= v <= 1.0 for v in lins)
    assert steps == {0, 5, 10}
    assert set(choices) == {"a", "b", "c"}
    # log scale: about half the draws fall below the geometric mean (uniform sampling would put ~1% there)
    assert 0.4 < sum(v < 1e-3 for v in logs) / n < 0.6
    assert 0.4 < sum(v < 32 for v in ints) / n < 0.6
    assert 0.4 < sum(v < 0.5 for v in lins) / n < 0.6
    assert driver.suggest(FixedParam("p.f", 7), None) == 7


def test_random_driver_is_seeded():
    def draw(seed):
        hp = PluginHP("toy", RandomDriver(seed))
        Toy().space(hp)
        return hp.values

    assert draw(5) == draw(5)
    assert len({tuple(sorted(draw(s).items())) for s in range(5)}) > 1


def test_optuna_driver_against_a_real_study():
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    overrides = {"depth": 3, "act": ["gelu", "tanh"], "width": {"low": 16, "high": 64}}
    hp = PluginHP("toy", OptunaDriver(trial), condition=("architecture", "toy"), overrides=overrides)
    params = Toy().space(hp)
    # sampled parameters land in the trial under their namespaced names, with the same values
    assert set(trial.params) == TOY_NAMES - {"toy.depth"}  # a fixed value is recorded, never sampled
    assert hp.values["toy.depth"] == 3 == params["depth"]
    assert {k: v for k, v in hp.values.items() if k != "toy.depth"} == trial.params
    dist = trial.distributions
    assert isinstance(dist["toy.width"], optuna.distributions.IntDistribution)
    assert (dist["toy.width"].low, dist["toy.width"].high, dist["toy.width"].log) == (16, 64, True)
    assert dist["toy.stride"].step == 5
    assert isinstance(dist["toy.rate"], optuna.distributions.FloatDistribution) and dist["toy.rate"].log
    assert dist["toy.act"].choices == ("gelu", "tanh")
    assert dist["toy.norm"].choices == (False, True)
    study.tell(trial, 0.5)
    # a second trial samples within the narrowed bounds, and the values rebuild through FixedDriver
    trial2 = study.ask()
    params2 = Toy().space(PluginHP("toy", OptunaDriver(trial2), overrides=overrides))
    assert 16 <= params2["width"] <= 64 and params2["stride"] in (0, 5, 10) and params2["act"] in ("gelu", "tanh")
    assert Toy().space(PluginHP("toy", FixedDriver(trial2.params), overrides=overrides)) == params2


def test_kerastuner_driver_declares_inside_the_conditional_scope():
    keras_tuner = pytest.importorskip("keras_tuner")
    hp = keras_tuner.HyperParameters()
    hp.Choice("architecture", ["toy", "other"])  # the backend declares the family selector first
    plugin_hp = PluginHP("toy", KerasTunerDriver(hp), condition=("architecture", "toy"),
                         overrides={"width": 64, "act": ["gelu", "tanh"]})
    params = Toy().space(plugin_hp)
    assert params == {"depth": 2, "width": 64, "stride": 5, "rate": pytest.approx(1e-3), "dropout": 0.25,
                      "act": "gelu", "norm": True}
    sampled = TOY_NAMES - {"toy.width"}  # fixed by the override: recorded by PluginHP, not declared
    assert sampled <= set(hp.values)
    assert "toy.width" not in hp.values and plugin_hp.values["toy.width"] == 64
    assert {k: hp.values[k] for k in sampled} == {k: v for k, v in plugin_hp.values.items() if k in sampled}
    # the declarations are conditional on the selector
    for name in sampled:
        declared = {h.name: h for h in hp.space}[name]
        assert [c.name for c in declared.conditions] == ["architecture"]
        assert list(declared.conditions[0].values) == ["toy"]
    assert hp.is_active("toy.depth")
    # another value of the selector makes them inactive
    hp.values["architecture"] = "other"
    assert not hp.is_active("toy.depth")


def test_kerastuner_driver_handles_log_scale_ints():
    keras_tuner = pytest.importorskip("keras_tuner")
    hp = keras_tuner.HyperParameters()
    hp.Choice("architecture", ["toy"])
    plugin_hp = PluginHP("toy", KerasTunerDriver(hp), condition=("architecture", "toy"))
    params = Toy().space(plugin_hp)
    assert 8 <= params["width"] <= 512 and "toy.width" in hp.values


def declared_kerastuner(hp, name):
    return {h.name: h for h in hp.space}[name]


def test_kerastuner_driver_answers_a_bool_choice_with_the_declared_bool():
    """KerasTuner's Choice standardises on int: it stores [False, True] as [0, 1]. The driver maps the value
    back to the declared option, so the plugin (and the leaderboard) see a bool."""
    keras_tuner = pytest.importorskip("keras_tuner")
    hp = keras_tuner.HyperParameters()
    hp.Choice("architecture", ["toy"])
    params = Toy().space(PluginHP("toy", KerasTunerDriver(hp), condition=("architecture", "toy")))
    assert declared_kerastuner(hp, "toy.norm").values == [0, 1]  # KerasTuner's own copy
    assert hp.values["toy.norm"] == 1 and type(hp.values["toy.norm"]) is int
    assert params["norm"] is True
    for stored, expected in ((0, False), (1, True)):  # as an oracle writes the values of a new trial
        hp.values["toy.norm"] = stored
        params = Toy().space(PluginHP("toy", KerasTunerDriver(hp), condition=("architecture", "toy")))
        assert params["norm"] is expected
    # Other choices keep their declared type too.
    assert type(params["act"]) is str


class Mixed(Architecture):
    """Choices whose options KerasTuner refuses to put in one Choice (mixed types, or None)."""

    name = "mixed"

    def space(self, hp):
        return {
            "pool": hp.choice("pool", [None, 3]),
            "scale": hp.choice("scale", [1, 0.5], default=0.5),
            "mode": hp.choice("mode", ["auto", 4, True, None, 1]),
            "only": hp.choice("only", [None]),
            "ratio": hp.choice("ratio", [2, 0.25], default=2.0),  # a default equal to an option of another type
            "norm": hp.choice("norm", [False, True]),  # a plain choice beside them
        }

    def build(self, inputs, params, context):  # pragma: no cover - never built here
        return inputs


MIXED_OPTIONS = {"pool": [None, 3], "scale": [1, 0.5], "mode": ["auto", 4, True, None, 1], "only": [None],
                 "ratio": [2, 0.25], "norm": [False, True]}


def test_kerastuner_rejects_mixed_choices_itself():
    """Why the driver declares such choices by key: KerasTuner raises for every one of them."""
    keras_tuner = pytest.importorskip("keras_tuner")
    for name, options in MIXED_OPTIONS.items():
        if name != "norm":
            with pytest.raises(TypeError):
                keras_tuner.HyperParameters().Choice(name, options)


def test_kerastuner_driver_declares_mixed_choices_by_key_inside_the_conditional_scope():
    keras_tuner = pytest.importorskip("keras_tuner")
    hp = keras_tuner.HyperParameters()
    hp.Choice("architecture", ["mixed", "other"])
    plugin_hp = PluginHP("mixed", KerasTunerDriver(hp), condition=("architecture", "mixed"))
    params = Mixed().space(plugin_hp)
    # The defaults come back as the declared options (0.5 is the declared default of "scale").
    assert params == {"pool": None, "scale": 0.5, "mode": "auto", "only": None, "ratio": 2, "norm": False}
    assert type(params["scale"]) is float and type(params["ratio"]) is int and params["norm"] is False
    # KerasTuner holds one Choice of string keys (the options' reprs) per mixed choice, conditional on
    # the selector like every other parameter of the plugin.
    for short, options in MIXED_OPTIONS.items():
        declared = declared_kerastuner(hp, f"mixed.{short}")
        if short == "norm":
            assert declared.values == [0, 1]
        else:
            assert declared.values == [repr(o) for o in options]
            assert all(isinstance(v, str) for v in declared.values)
        assert [c.name for c in declared.conditions] == ["architecture"]
        assert list(declared.conditions[0].values) == ["mixed"]
    assert (hp.values["mixed.pool"], hp.values["mixed.scale"], hp.values["mixed.ratio"]) == ("None", "0.5", "2")
    # Every key an oracle may write maps back to its option, with the option's own type (1 and True,
    # equal in Python, stay apart).
    for short in ("pool", "scale", "mode", "ratio"):
        for option in MIXED_OPTIONS[short]:
            hp.values[f"mixed.{short}"] = repr(option)
            got = Mixed().space(PluginHP("mixed", KerasTunerDriver(hp), condition=("architecture", "mixed")))[short]
            assert got == option and type(got) is type(option), (short, option, got)
    # The values rebuild through FixedDriver, as the backend rebuilds a sampled candidate.
    hp.values.update({"mixed.pool": "3", "mixed.mode": "True", "mixed.ratio": "2"})
    hp.values["mixed.scale"] = "1"
    values = PluginHP("mixed", KerasTunerDriver(hp), condition=("architecture", "mixed"))
    Mixed().space(values)
    assert values.values == {"mixed.pool": 3, "mixed.scale": 1, "mixed.mode": True, "mixed.only": None,
                             "mixed.ratio": 2, "mixed.norm": False}
    assert type(values.values["mixed.scale"]) is int
    assert Mixed().space(PluginHP("mixed", FixedDriver(values.values))) == {
        "pool": 3, "scale": 1, "mode": True, "only": None, "ratio": 2, "norm": False}
    # Another plugin selected: the keyed choices are inactive, like every conditional parameter.
    hp.values["architecture"] = "other"
    assert not any(hp.is_active(f"mixed.{short}") for short in MIXED_OPTIONS)


def test_kerastuner_driver_samples_every_option_of_a_mixed_choice_from_a_real_oracle():
    """A KerasTuner oracle samples the keys like any string choice; each trial decodes to an option."""
    keras_tuner = pytest.importorskip("keras_tuner")
    hp = keras_tuner.HyperParameters()
    hp.Choice("architecture", ["mixed"])
    Mixed().space(PluginHP("mixed", KerasTunerDriver(hp), condition=("architecture", "mixed")))
    oracle = keras_tuner.oracles.RandomSearchOracle(objective=keras_tuner.Objective("score", "max"),
                                                     max_trials=None, seed=3)
    oracle.save = lambda: None  # no project directory
    oracle._save_trial = lambda trial: None
    oracle.verbose = 0
    oracle.update_space(hp)
    seen = {short: set() for short in MIXED_OPTIONS}
    for i in range(40):  # of the 80 combinations
        trial = oracle.create_trial(f"t{i}")
        assert trial.status == "RUNNING"
        params = Mixed().space(PluginHP("mixed", KerasTunerDriver(trial.hyperparameters),
                                        condition=("architecture", "mixed")))
        for short, value in params.items():
            assert any(value is o or (value == o and type(value) is type(o)) for o in MIXED_OPTIONS[short])
            seen[short].add((type(value), value))
        trial.status = "COMPLETED"
        oracle.update_trial(trial.trial_id, {"score": float(i)})
        oracle.end_trial(trial)
    assert {short: len(values) for short, values in seen.items()} == {k: len(v) for k, v in MIXED_OPTIONS.items()}


def test_kerastuner_driver_rejects_a_value_that_is_no_option():
    """A value KerasTuner holds that matches no option (e.g. a run resumed with a changed space) is an
    error naming the parameter, not a silent wrong value."""
    keras_tuner = pytest.importorskip("keras_tuner")
    hp = keras_tuner.HyperParameters()
    hp.Choice("architecture", ["mixed"])
    Mixed().space(PluginHP("mixed", KerasTunerDriver(hp), condition=("architecture", "mixed")))
    hp.values["mixed.pool"] = "7"
    with raises_naming("mixed.pool", "'7'"):
        Mixed().space(PluginHP("mixed", KerasTunerDriver(hp), condition=("architecture", "mixed")))
    hp.values["mixed.pool"] = "None"
    hp.values["mixed.norm"] = 2
    with raises_naming("mixed.norm", "2"):
        Mixed().space(PluginHP("mixed", KerasTunerDriver(hp), condition=("architecture", "mixed")))
