"""Search spaces (automl.search_space): the shipped YAML files, validation errors, task filtering,
sampling and candidates."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from automl.errors import AutomlError, SearchSpaceError
from automl.hp import DefaultsDriver, FloatParam, RandomDriver, declared_params
from automl.model import plugin_values
from automl.search_space import Candidate, SearchSpace, builtin_spaces, default_space_name

SHIPPED = ("quick", "image_default", "photo_default", "tabular_default")


def raises_naming(*fragments: str, error=SearchSpaceError):
    return pytest.raises(error, match="".join(f"(?=[\\s\\S]*{re.escape(f)})" for f in fragments))


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def shipped_param(name):
    return pytest.param(name, id=name)


# --- shipped spaces ------------------------------------------------------------------------------------
@pytest.mark.parametrize("task, shape, expected", [
    ("image", (8, 8, 1), "image_default"), ("image", (31, 240, 3), "image_default"),
    ("image", (32, 48, 3), "photo_default"), ("image", (64, 64, 3), "photo_default"),
    ("tabular", (30,), "tabular_default"),
])
def test_the_default_space_follows_the_data(task, shape, expected):
    assert default_space_name(task, shape) == expected


def test_the_photo_space_starts_with_the_tutorials_cnn_and_trains_past_the_plateau(registry):
    space = SearchSpace.load("photo_default", registry)
    first, second = (candidate for candidate, _ in space.initial_candidates(registry, "image"))
    assert (first.architecture, first.augmentation, first.optimizer) == ("cnn", "mixed", "adam")
    assert first.params["cnn.blocks"] == 4 and first.params["cnn.filters"] == 16
    # Batch norm first (it left chance on every benchmark seed), then the cheaper network without it; a constant
    # 1e-3; uncovered pixels filled by reflection, not digits' black.
    assert first.params["cnn.batch_norm"] is True and second.params["cnn.batch_norm"] is False
    for candidate in (first, second):
        assert candidate.params["adam.learning_rate"] == 1e-3 and candidate.params["adam.schedule"] == "constant"
        assert candidate.params["mixed.fill_mode"] == "reflect"
    digits = SearchSpace.load("image_default", registry).families["augmentation"]
    assert {name: overrides.get("fill_mode") for name, overrides in digits.items() if overrides} == dict.fromkeys(
        ("translation", "rotation", "zoom", "mixed"), "constant")  # digits sit on black
    # Digits' settings (patience 5, the pruner's first rung at epoch 2) end a photo trial on its plateau.
    assert space.training["patience"] >= 10 and space.training["first_rung"] >= 10
    assert 0 < space.training["continue_best"] < 1
    digits = SearchSpace.load("image_default", registry)
    assert "first_rung" not in digits.training and "continue_best" not in digits.training


@pytest.mark.parametrize("key, value, fragments", [
    ("first_rung", 0, ["training.first_rung", "from 1 to max_epochs (20)", "got 0"]),
    ("first_rung", 21, ["training.first_rung", "got 21"]),
    ("first_rung", True, ["training.first_rung", "got True"]),
    ("continue_best", 0, ["training.continue_best", "between 0 and 1", "got 0"]),
    ("continue_best", 1.5, ["training.continue_best", "got 1.5"]),
    ("continue_best", "half", ["training.continue_best", "got 'half'"]),
])
def test_bad_pruning_and_continuation_settings_are_named(registry, key, value, fragments):
    with raises_naming(*fragments):
        SearchSpace.from_dict({"architectures": ["cnn"], "training": {"max_epochs": 20, key: value}}, registry)


def test_builtin_spaces_are_found():
    spaces = builtin_spaces()
    assert set(SHIPPED) <= set(spaces)
    assert all(path.suffix == ".yaml" and path.is_file() for path in spaces.values())


@pytest.mark.parametrize("name", [shipped_param(n) for n in SHIPPED])
def test_shipped_space_loads_and_matches_its_file(name, registry):
    space = SearchSpace.load(name, registry)
    data = yaml.safe_load(builtin_spaces()[name].read_text())
    assert name in space.source
    assert space.objective == data.get("objective", "val_accuracy")
    assert space.description == str(data.get("description", ""))
    for key, family in (("architectures", "architecture"), ("augmentations", "augmentation"),
                        ("optimizers", "optimizer")):
        selection = data.get(key, "all")
        expected = set(registry.names(family)) if selection == "all" else set(selection)
        assert set(space.families[family]) == expected, key
    for key in ("batch_size", "max_epochs", "patience"):
        if key in (data.get("training") or {}):
            assert space.training[key] == data["training"][key]
    # every task the space can serve samples a valid candidate
    for task in ("image", "tabular"):
        try:
            names = space.for_task(task, registry)
        except SearchSpaceError:
            continue
        candidate = space.sample(DefaultsDriver(), registry, task)
        assert candidate.architecture in names["architecture"]


def test_quick_space_samples_obey_the_file(registry):
    """Every override written in quick.yaml bounds what is sampled (the file is the spec)."""
    data = yaml.safe_load(builtin_spaces()["quick"].read_text())
    space = SearchSpace.load("quick", registry)
    lr = (data.get("training") or {}).get("learning_rate")
    seen = set()
    for seed in range(40):
        candidate = space.sample(RandomDriver(seed), registry, "image")
        seen.add(candidate.architecture)
        for key, family in (("architectures", "architecture"), ("augmentations", "augmentation"),
                            ("optimizers", "optimizer")):
            name = getattr(candidate, family)
            overrides = dict((data[key] or {}).get(name) or {}) if isinstance(data[key], Mapping) else {}
            if family == "optimizer" and lr is not None:
                overrides.setdefault("learning_rate", lr)
            for short, override in overrides.items():
                value = candidate.params[f"{name}.{short}"]
                if isinstance(override, Mapping):
                    assert override.get("low", value) * (1 - 1e-9) <= value <= override.get("high", value) * (1 + 1e-9)
                elif isinstance(override, list):
                    assert value in override
                else:
                    assert value == override
        training = data.get("training") or {}
        if isinstance(training.get("batch_size"), int):
            assert candidate.batch_size == training["batch_size"]
    assert len(seen) > 1


def test_load_unknown_name_or_missing_file(registry, tmp_path):
    with raises_naming("'nope'", "quick", "image_default"):
        SearchSpace.load("nope", registry)
    with raises_naming(str(tmp_path / "missing.yaml"), "does not exist"):
        SearchSpace.load(tmp_path / "missing.yaml", registry)


def test_load_a_yaml_file_by_path(registry, tmp_path):
    path = write_yaml(tmp_path / "mine.yml", "objective: val_loss\narchitectures: [mlp]\noptimizers: {adam: {}}\n")
    space = SearchSpace.load(path, registry)
    assert space.source == str(path)
    assert space.families["architecture"] == {"mlp": {}}
    assert space.families["optimizer"] == {"adam": {}}
    assert set(space.families["augmentation"]) == set(registry.names("augmentation"))  # left out = all
    assert space.objective == "val_loss" and space.direction == "minimize"


# --- errors --------------------------------------------------------------------------------------------
def test_unknown_top_level_key(registry, tmp_path):
    path = write_yaml(tmp_path / "typo.yaml", "architecture: [cnn]\n")
    with raises_naming(str(path), "'architecture'", "architectures", "allowed"):
        SearchSpace.load(path, registry)


def test_unknown_plugin_lists_installed_names(registry):
    with raises_naming("s.yaml", "architectures", "'efficientnet'", *registry.names("architecture")):
        SearchSpace.from_dict({"architectures": ["efficientnet"]}, registry, source="s.yaml")
    with raises_naming("'adamx'", *registry.names("optimizer")):
        SearchSpace.from_dict({"optimizers": {"adamx": {}}}, registry, source="s.yaml")


def test_unknown_parameter_override_lists_declared_params(registry):
    declared = [p.name.split(".", 1)[1] for p in declared_params(registry.get("architecture", "cnn").plugin)]
    with raises_naming("s.yaml", "architectures.cnn", "'filter'", *declared):
        SearchSpace.from_dict({"architectures": {"cnn": {"filter": 32}}}, registry, source="s.yaml")
    with raises_naming("augmentations.none", "'factor'", "none"):
        SearchSpace.from_dict({"augmentations": {"none": {"factor": 0.1}}}, registry, source="s.yaml")


@pytest.mark.parametrize(("override", "fragments"), [
    ({"filters": 1000}, ["cnn.filters", "1000"]),
    ({"filters": [16, 1000]}, ["cnn.filters", "1000"]),
    ({"filters": {"min": 16}}, ["cnn.filters", "'min'"]),
    ({"kernel_size": 4}, ["cnn.kernel_size", "4"]),
    ({"batch_norm": "maybe"}, ["cnn.batch_norm", "'maybe'"]),
    ({"kernel_size": {"low": 3}}, ["cnn.kernel_size", "mapping"]),
])
def test_bad_override_value_names_file_and_key(registry, tmp_path, override, fragments):
    path = write_yaml(tmp_path / "bad.yaml", yaml.safe_dump({"architectures": {"cnn": override}}))
    with raises_naming(str(path), "architectures.cnn", *fragments):
        SearchSpace.load(path, registry)


def test_inverted_range_override_names_file_and_key(registry, tmp_path):
    path = write_yaml(tmp_path / "bad.yaml", "architectures:\n  cnn: {filters: {low: 64, high: 16}}\n")
    with raises_naming(str(path), "architectures.cnn", "cnn.filters"):
        SearchSpace.load(path, registry)


def test_non_numeric_range_bound_is_a_search_space_error(registry):
    with raises_naming("s.yaml", "mlp.dropout"):
        SearchSpace.from_dict({"architectures": {"mlp": {"dropout": {"low": "zero"}}}}, registry, source="s.yaml")


@pytest.mark.parametrize(("training", "fragments"), [
    ({"batch_size": 0}, ["training.batch_size", "0"]),
    ({"batch_size": [32, "64"]}, ["training.batch_size", "'64'"]),
    ({"batch_size": []}, ["training.batch_size"]),
    ({"max_epochs": [10, 20]}, ["training.max_epochs", "list"]),
    ({"patience": True}, ["training.patience", "True"]),
    ({"patience": 2.5}, ["training.patience", "2.5"]),
    ({"epochs": 3}, ["training", "'epochs'", "max_epochs"]),
    ({"learning_rate": "fast"}, ["training.learning_rate", "'fast'"]),
])
def test_invalid_training_values(registry, training, fragments):
    with raises_naming("s.yaml", *fragments):
        SearchSpace.from_dict({"training": training}, registry, source="s.yaml")


def test_training_defaults_and_values(registry):
    space = SearchSpace.from_dict({"training": {"batch_size": [16, 32], "patience": 2}}, registry)
    assert space.training == {"batch_size": [16, 32], "max_epochs": 20, "patience": 2}
    assert SearchSpace.from_dict({"training": None}, registry).training["batch_size"] == 64


def test_out_of_range_training_learning_rate_fails_at_load(registry):
    with raises_naming("s.yaml", "adam.learning_rate", "5.0"):
        SearchSpace.from_dict({"optimizers": ["adam"], "training": {"learning_rate": 5.0}}, registry, source="s.yaml")


def test_bad_yaml_and_non_mapping(registry, tmp_path):
    bad = write_yaml(tmp_path / "broken.yaml", "architectures: [cnn\n")
    with raises_naming(str(bad), "not valid YAML"):
        SearchSpace.load(bad, registry)
    listing = write_yaml(tmp_path / "list.yaml", "- cnn\n- mlp\n")
    with raises_naming(str(listing), "mapping", "list"):
        SearchSpace.load(listing, registry)
    # an empty file is an empty mapping: every installed plugin, default training
    empty = SearchSpace.load(write_yaml(tmp_path / "empty.yaml", ""), registry)
    assert set(empty.families["architecture"]) == set(registry.names("architecture"))


@pytest.mark.parametrize(("value", "fragments"), [
    ({}, ["lists no plugin", "cnn", "mlp"]),
    ([], ["lists no plugin"]),
    (5, ["expected 'all'", "5"]),
    ({"cnn": 3}, ["architectures.cnn", "mapping", "3"]),
])
def test_bad_family_selection(registry, value, fragments):
    with raises_naming("s.yaml", *fragments):
        SearchSpace.from_dict({"architectures": value}, registry, source="s.yaml")


def test_search_space_error_is_an_automl_error():
    assert issubclass(SearchSpaceError, AutomlError)


# --- objective, selection, tasks -----------------------------------------------------------------------
def test_objective_and_direction(registry):
    assert SearchSpace.from_dict({}, registry).objective == "val_accuracy"
    assert SearchSpace.from_dict({}, registry).direction == "maximize"
    assert SearchSpace.from_dict({"objective": "val_loss"}, registry).direction == "minimize"
    with raises_naming("s.yaml", "'accuracy'", "val_accuracy", "val_loss"):
        SearchSpace.from_dict({"objective": "accuracy"}, registry, source="s.yaml")


@pytest.mark.parametrize("value", ["all", "*", None])
def test_all_selects_every_installed_plugin(registry, value):
    space = SearchSpace.from_dict({"optimizers": value}, registry)
    assert list(space.families["optimizer"]) == registry.names("optimizer")
    assert all(overrides == {} for overrides in space.families["optimizer"].values())


def test_for_task_keeps_the_plugins_that_support_the_task(registry):
    space = SearchSpace.from_dict({"architectures": ["cnn", "mlp", "resnet"],
                                   "augmentations": ["none", "flip", "noise"],
                                   "optimizers": ["adam", "sgd"]}, registry)
    assert space.for_task("tabular", registry) == {
        "architecture": ["mlp"], "augmentation": ["none", "noise"], "optimizer": ["adam", "sgd"]}
    assert space.for_task("image", registry) == {
        "architecture": ["cnn", "mlp", "resnet"], "augmentation": ["none", "flip", "noise"],
        "optimizer": ["adam", "sgd"]}


def test_for_task_on_image_default(registry):
    space = SearchSpace.load("image_default", registry)
    names = space.for_task("tabular", registry)
    expected = {family: [n for n in selection if "tabular" in registry.get(family, n).plugin.tasks]
                for family, selection in space.families.items()}
    assert names == expected
    assert "cnn" in space.families["architecture"] and "cnn" not in names["architecture"]
    assert names["architecture"] == ["mlp"]
    assert space.for_task("image", registry) == {f: list(s) for f, s in space.families.items()}


def test_for_task_with_an_empty_family_is_an_error(registry):
    space = SearchSpace.from_dict({"architectures": ["cnn", "resnet"]}, registry, source="s.yaml")
    tabular = registry.names("architecture", "tabular")
    assert tabular  # mlp at least
    with raises_naming("s.yaml", "architecture", "tabular", "cnn", "resnet", *tabular):
        space.for_task("tabular", registry)
    with raises_naming("s.yaml", "tabular"):
        space.sample(RandomDriver(0), registry, "tabular")


# --- sampling and candidates ---------------------------------------------------------------------------
@pytest.mark.parametrize("task", ["image", "tabular"])
def test_sample_gives_namespaced_params_of_plugins_that_support_the_task(registry, task):
    space = SearchSpace.from_dict({"training": {"batch_size": [16, 32]}}, registry)
    chosen = set()
    for seed in range(25):
        candidate = space.sample(RandomDriver(seed), registry, task)
        plugins = {family: registry.get(family, getattr(candidate, family)).plugin
                   for family in ("architecture", "augmentation", "optimizer")}
        assert all(task in plugin.tasks for plugin in plugins.values()), candidate
        expected = {p.name for plugin in plugins.values() for p in declared_params(plugin)}
        assert set(candidate.params) == expected
        prefixes = {plugin.name for plugin in plugins.values()}
        assert all(key.split(".", 1)[0] in prefixes for key in candidate.params)
        assert candidate.batch_size in (16, 32) and candidate.max_epochs == 20 and candidate.patience == 4
        for family in plugins:  # the stored values rebuild each plugin's parameters
            plugin_values(candidate, family, registry)
        chosen.add(candidate.architecture)
    assert chosen == set(registry.names("architecture", task))  # every one of them gets picked


def test_sample_applies_overrides(registry):
    space = SearchSpace.from_dict({"architectures": {"cnn": {"blocks": [1, 2], "filters": {"low": 16, "high": 24},
                                                              "kernel_size": 5}},
                                   "augmentations": ["none"], "optimizers": {"sgd": {"nesterov": False}}}, registry)
    for seed in range(20):
        c = space.sample(RandomDriver(seed), registry, "image")
        assert (c.architecture, c.augmentation, c.optimizer) == ("cnn", "none", "sgd")
        assert c.params["cnn.blocks"] in (1, 2) and 16 <= c.params["cnn.filters"] <= 24
        assert c.params["cnn.kernel_size"] == 5 and c.params["sgd.nesterov"] is False


def test_candidate_round_trip(registry):
    space = SearchSpace.from_dict({"training": {"batch_size": [16, 32]}}, registry)
    candidate = space.sample(RandomDriver(7), registry, "image")
    data = candidate.to_dict()
    assert set(data) == {"architecture", "augmentation", "optimizer", "params", "batch_size", "max_epochs",
                         "patience"}
    assert Candidate.from_dict(data) == candidate
    assert Candidate.from_dict(json.loads(json.dumps(data))) == candidate
    data["params"]["changed"] = 1  # to_dict hands out a copy
    assert "changed" not in candidate.params
    other = space.sample(RandomDriver(8), registry, "image")
    assert Candidate.from_dict(other.to_dict()) != candidate


def test_training_learning_rate_narrows_every_optimizer(registry):
    space = SearchSpace.from_dict({"training": {"learning_rate": 1e-3}}, registry)
    assert set(space.families["optimizer"]) == set(registry.names("optimizer"))
    for name, overrides in space.families["optimizer"].items():
        assert overrides["learning_rate"] == 1e-3, name
    for seed in range(15):
        c = space.sample(RandomDriver(seed), registry, "image")
        assert c.params[f"{c.optimizer}.learning_rate"] == 1e-3


def test_training_learning_rate_range_and_per_optimizer_override(registry):
    rng = {"low": 1e-3, "high": 5e-3}
    space = SearchSpace.from_dict({"optimizers": {"adam": {}, "adamw": {}, "rmsprop": {}, "sgd": {"learning_rate": 0.1}},
                                   "training": {"learning_rate": rng}}, registry)
    for name in ("adam", "adamw", "rmsprop"):
        declared = {p.name: p for p in declared_params(registry.get("optimizer", name).plugin,
                                                        space.families["optimizer"][name])}
        lr = declared[f"{name}.learning_rate"]
        assert isinstance(lr, FloatParam) and (lr.low, lr.high) == (1e-3, 5e-3) and lr.log
    assert space.families["optimizer"]["sgd"]["learning_rate"] == 0.1  # the optimizer's own override wins
    for seed in range(30):
        c = space.sample(RandomDriver(seed), registry, "image")
        value = c.params[f"{c.optimizer}.learning_rate"]
        if c.optimizer == "sgd":
            assert value == 0.1
        else:
            assert 1e-3 <= value <= 5e-3


def test_space_to_dict_round_trips(registry):
    space = SearchSpace.from_dict({"objective": "val_loss", "architectures": ["mlp"],
                                   "optimizers": {"adam": {"learning_rate": {"low": 1e-3, "high": 1e-2}}},
                                   "training": {"batch_size": [16, 32]}}, registry, source="x.yaml")
    data = space.to_dict()
    assert data["objective"] == "val_loss"
    assert data["architectures"] == {"mlp": {}}
    json.dumps(data)  # JSON-able: it is stored in the run's config (RunDirectory.config) and in a shared study
    again = SearchSpace.from_dict(json.loads(json.dumps(data)), registry, source="the run's config")
    assert again.families == space.families and again.training == space.training
    assert again.to_dict() == data


# --- initial trials ------------------------------------------------------------------------------------
INITIAL_SPACE = {
    "architectures": {"cnn": {"filters": {"low": 16, "high": 64}}, "mlp": {}},
    "augmentations": ["none", "translation"],
    "optimizers": {"adam": {}, "sgd": {"nesterov": True}},
    "training": {"batch_size": [32, 64]},
}


def with_initial(*entries, **space):
    return {**INITIAL_SPACE, **space, "initial_trials": list(entries)}


def test_initial_trial_fills_defaults_and_lists_only_sampled_values(registry):
    space = SearchSpace.from_dict(with_initial(
        {"architecture": "cnn", "augmentation": "translation", "optimizer": "sgd",
         "params": {"cnn.filters": 64, "translation.factor": 0.05}, "batch_size": 64}), registry, source="s.yaml")
    [(candidate, sampled)] = space.initial_candidates(registry, "image")
    assert (candidate.architecture, candidate.augmentation, candidate.optimizer) == ("cnn", "translation", "sgd")
    assert candidate.params["cnn.filters"] == 64 and candidate.params["translation.factor"] == 0.05
    assert candidate.params["cnn.blocks"] == 2  # the plugin's default
    assert candidate.params["sgd.nesterov"] is True and candidate.batch_size == 64
    # What a sampler would have drawn: plugin choices and free parameters, not the space's fixed values.
    assert sampled["architecture"] == "cnn" and sampled["training.batch_size"] == 64
    assert sampled["cnn.filters"] == 64 and "sgd.nesterov" not in sampled
    assert set(sampled) - {"architecture", "augmentation", "optimizer", "training.batch_size"} < set(candidate.params)


def test_initial_trials_round_trip_through_to_dict(registry):
    entry = {"architecture": "mlp", "augmentation": "none", "optimizer": "adam", "params": {"mlp.units": 64}}
    space = SearchSpace.from_dict(with_initial(entry), registry, source="s.yaml")
    data = json.loads(json.dumps(space.to_dict()))
    assert data["initial_trials"] == [entry]
    again = SearchSpace.from_dict(data, registry, source="the run's config")
    assert again.initial_candidates(registry, "image") == space.initial_candidates(registry, "image")
    assert "initial_trials" not in SearchSpace.from_dict(INITIAL_SPACE, registry).to_dict()


@pytest.mark.parametrize(("entry", "fragments"), [
    ("cnn", ["initial_trials[0]", "mapping", "'cnn'"]),
    ({"architecture": "cnn", "augmentation": "none"}, ["initial_trials[0]", "optimizer"]),
    ({"architecture": "cnn", "augmentation": "none", "optimizer": "adam", "epochs": 3},
     ["initial_trials[0]", "'epochs'", "batch_size"]),
    ({"architecture": "resnet", "augmentation": "none", "optimizer": "adam"},
     ["initial_trials[0]", "architecture 'resnet'", "cnn, mlp"]),
    ({"architecture": "cnn", "augmentation": "none", "optimizer": "adam", "params": {"cnn.filters": 128}},
     ["initial_trials[0]", "cnn.filters", "128"]),
    ({"architecture": "cnn", "augmentation": "none", "optimizer": "adam", "params": {"mlp.units": 64}},
     ["initial_trials[0]", "mlp.units", "cnn.filters"]),
    ({"architecture": "cnn", "augmentation": "none", "optimizer": "adam", "params": {"filters": 32}},
     ["initial_trials[0].params", "plugin.param"]),
    ({"architecture": "cnn", "augmentation": "none", "optimizer": "adam", "batch_size": 48},
     ["initial_trials[0]", "training.batch_size", "48"]),
    ({"architecture": "cnn", "augmentation": "none", "optimizer": "sgd", "params": {"sgd.nesterov": False}},
     ["initial_trials[0]", "sgd.nesterov", "False"]),
])
def test_bad_initial_trial_fails_at_load_naming_the_entry(registry, entry, fragments):
    with raises_naming("s.yaml", *fragments):
        SearchSpace.from_dict(with_initial(entry), registry, source="s.yaml")


def test_initial_trials_must_be_a_list_and_a_fixed_batch_size_may_be_repeated(registry):
    with raises_naming("s.yaml", "initial_trials", "list"):
        SearchSpace.from_dict({**INITIAL_SPACE, "initial_trials": {"architecture": "cnn"}}, registry, source="s.yaml")
    space = SearchSpace.from_dict(with_initial(
        {"architecture": "mlp", "augmentation": "none", "optimizer": "adam", "batch_size": 16},
        training={"batch_size": 16}), registry)
    [(candidate, sampled)] = space.initial_candidates(registry, "tabular")
    assert candidate.batch_size == 16 and "training.batch_size" not in sampled


def test_initial_trial_whose_plugin_does_not_fit_the_task(registry):
    space = SearchSpace.from_dict(with_initial(
        {"architecture": "cnn", "augmentation": "none", "optimizer": "adam"}), registry, source="s.yaml")
    with raises_naming("s.yaml", "initial_trials[0]", "'cnn'", "mlp"):
        space.initial_candidates(registry, "tabular")


@pytest.mark.parametrize("name", ["image_default", "tabular_default"])
def test_shipped_default_spaces_start_from_known_good_configurations(name, registry):
    space = SearchSpace.load(name, registry)
    starts = space.initial_candidates(registry, name.split("_")[0])
    assert starts, name
    assert len({json.dumps(sampled, sort_keys=True) for _, sampled in starts}) == len(starts)  # no duplicates


# --- training.image_size: the input size as a search dimension ---------------------------------------------
def test_a_listed_image_size_is_sampled_recorded_and_read_back(registry):
    space = SearchSpace.from_dict({**INITIAL_SPACE, "training": {"image_size": [16, 32]}}, registry)
    seen = {space.sample(RandomDriver(seed), registry, "image").image_size for seed in range(20)}
    assert seen == {16, 32}
    candidate = space.sample(RandomDriver(0), registry, "image")
    assert Candidate.from_dict(json.loads(json.dumps(candidate.to_dict()))) == candidate
    fixed = SearchSpace.from_dict({**INITIAL_SPACE, "training": {"image_size": 48}}, registry)
    assert fixed.sample(RandomDriver(0), registry, "image").image_size == 48
    # Without it a candidate has no size of its own, and its record has no such key (old runs read the same).
    plain = SearchSpace.from_dict(INITIAL_SPACE, registry).sample(RandomDriver(0), registry, "image")
    assert plain.image_size is None and "image_size" not in plain.to_dict()


@pytest.mark.parametrize("value", [4, "64x64", [64, 64], [], True, 64.5])
def test_a_bad_image_size_names_the_rule_and_the_value(registry, value):
    with raises_naming("s.yaml", "training.image_size", "long side", repr(value)):
        SearchSpace.from_dict({**INITIAL_SPACE, "training": {"image_size": value}}, registry, source="s.yaml")


def test_an_image_size_on_a_table_is_refused_before_any_trial(registry):
    space = SearchSpace.from_dict({**INITIAL_SPACE, "training": {"image_size": [16, 32]}}, registry,
                                  source="s.yaml")
    with raises_naming("s.yaml", "training.image_size", "image data", "tabular"):
        space.for_task("tabular", registry)


def test_an_initial_trial_picks_one_of_the_listed_image_sizes(registry):
    space = SearchSpace.from_dict(with_initial({"architecture": "cnn", "augmentation": "none", "optimizer": "adam",
                                                "image_size": 32}, training={"image_size": [16, 32]}), registry)
    [(candidate, sampled)] = space.initial_candidates(registry, "image")
    assert candidate.image_size == 32 and sampled["training.image_size"] == 32
    with raises_naming("s.yaml", "initial_trials[0]", "training.image_size", "[16, 32]", "24"):
        SearchSpace.from_dict(with_initial({"architecture": "cnn", "augmentation": "none", "optimizer": "adam",
                                            "image_size": 24}, training={"image_size": [16, 32]}), registry,
                              source="s.yaml")


def test_a_listed_regression_loss_is_sampled_recorded_and_read_back(registry):
    space = SearchSpace.from_dict({**INITIAL_SPACE, "training": {"loss": ["squared_error", "huber"]}}, registry)
    seen = {space.sample(RandomDriver(seed), registry, "tabular").loss for seed in range(20)}
    assert seen == {"squared_error", "huber"}
    candidate = space.sample(RandomDriver(0), registry, "tabular")
    assert Candidate.from_dict(json.loads(json.dumps(candidate.to_dict()))) == candidate
    plain = SearchSpace.from_dict(INITIAL_SPACE, registry).sample(RandomDriver(0), registry, "tabular")
    assert plain.loss is None and "loss" not in plain.to_dict()  # records of runs without it read the same


@pytest.mark.parametrize("value", ["mae", ["huber", "huber"], [], 3])
def test_a_bad_regression_loss_names_the_choices_and_the_value(registry, value):
    with raises_naming("s.yaml", "training.loss", "squared_error, huber", repr(value)):
        SearchSpace.from_dict({**INITIAL_SPACE, "training": {"loss": value}}, registry, source="s.yaml")
