"""The KerasTuner backend: unit tests of its bookkeeping (no training), then real searches through the CLI."""

from __future__ import annotations

import json
import time

import pytest
import yaml
from helpers import leaderboard_rows, run_cli, sigkill_after_trials

from automl.backends import SamplingFailed
from automl.backends.kerastuner import KerasTunerBackend, hyperband_brackets, read_records, state_path
from automl.backends.kerastuner.backend import INTERRUPTED
from automl.backends.kerastuner.state import STORAGE_DIR
from automl.leaderboard import COLUMNS
from automl.plugin_manager import build_registry
from automl.run_dir import RunDirectory
from automl.search_space import SearchSpace
from automl.trainer import COMPLETE, FAILED, TrialResult

SAMPLERS = ("hyperband", "random", "bayesian")


def finished(rows) -> list[dict]:
    return [r for r in rows if r["status"] in ("complete", "pruned")]


# Every value fixed, one plugin per family: both backends must train exactly this candidate.
FIXED_SPACE = """
architectures:
  cnn: {blocks: 1, filters: 16, convs_per_block: 1, kernel_size: 3, batch_norm: false, dense_units: 32, dropout: 0.1}
augmentations: [none]
optimizers:
  adam: {learning_rate: 0.005, schedule: constant}
training: {batch_size: 32, max_epochs: 3, patience: 2}
"""


# --- bookkeeping, in process, with made-up results ----------------------------------------------------------
@pytest.fixture(scope="module")
def registry():
    return build_registry()


@pytest.fixture(scope="module")
def quick_space(registry):
    return SearchSpace.load("quick", registry)


def open_backend(run_dir, space, registry, sampler, expected_trials=8, seed=0) -> KerasTunerBackend:
    return KerasTunerBackend(run_dir, space, registry, "image", sampler=sampler, seed=seed,
                             expected_trials=expected_trials)


def tell(backend, handle, accuracy=0.9, status=COMPLETE):
    result = TrialResult(status, val_accuracy=accuracy, val_loss=1 - accuracy,
                         objective=accuracy if status == COMPLETE else None,
                         epochs=handle.candidate.max_epochs, best_epoch=1)
    record = {"trial": handle.number, "status": status, "objective": result.objective,
              "candidate": handle.candidate.to_dict(), "retry_of": handle.retry_of}
    backend.tell(handle, result, record)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_numbers_records_and_storage(tmp_path, registry, quick_space, sampler):
    backend = open_backend(tmp_path, quick_space, registry, sampler)
    for i in range(7):
        handle = backend.ask()
        assert handle.number == i and handle.retry_of is None
        assert handle.reporter.report(0, 0.5) is False  # no per-epoch pruning; early stopping still runs
        tell(backend, handle, accuracy=0.5 + i / 20, status=FAILED if i in (2, 3, 4) else COMPLETE)
    assert [r["trial"] for r in backend.records()] == list(range(7))
    assert read_records(tmp_path) == backend.records()  # read-only view of the same file
    batch_norm = [r["candidate"]["params"]["mlp.batch_norm"] for r in backend.records()
                  if "mlp.batch_norm" in r["candidate"]["params"]]
    assert all(type(v) is bool for v in batch_norm), batch_norm  # KerasTuner's Choice would make it 0 / 1
    assert backend.finished_count() == 4
    assert backend.bookkeeping_seconds > 0
    # One atomically written JSON file holds everything; KerasTuner's own files are never written.
    assert sorted(p.name for p in (tmp_path / "kerastuner").iterdir()) == ["state.json"]
    # Reopening continues the numbering and keeps the records.
    again = open_backend(tmp_path, quick_space, registry, sampler)
    assert again.records() == backend.records() and again.recover_interrupted() == []
    assert again.ask().number == 7


def test_every_plugins_parameters_are_sampled_from_the_first_trial(tmp_path, registry, quick_space):
    """Without declaring the space up front, a plugin's parameters would take their defaults the first
    time a trial picks it (KerasTuner learns a define-by-run parameter only after a trial used it)."""
    from automl.hp import declared_params

    backend = open_backend(tmp_path, quick_space, registry, "random")
    names = {hp.name for hp in backend.oracle.hyperparameters.space}
    for family, selection in quick_space.families.items():
        assert family in names
        for plugin_name, overrides in selection.items():
            plugin = registry.get(family, plugin_name).plugin
            sampled = {p.name for p in declared_params(plugin, overrides) if type(p).__name__ != "FixedParam"}
            assert sampled <= names, sampled - names
    seen = {}
    for _ in range(12):
        handle = backend.ask()
        seen.setdefault(handle.candidate.architecture, handle.candidate)
        tell(backend, handle)
    defaults = {"cnn.filters": 32, "mlp.units": 128}
    for candidate in seen.values():  # the first trial of each architecture already has sampled values
        assert all(candidate.params[k] != v for k, v in defaults.items() if k in candidate.params), candidate


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_failures_in_a_row_do_not_stop_the_oracle(tmp_path, registry, quick_space, sampler):
    """KerasTuner raises after 3 consecutive failed trials; the engine owns that limit here."""
    backend = open_backend(tmp_path, quick_space, registry, sampler)
    for _ in range(6):
        tell(backend, backend.ask(), status=FAILED)
    handle = backend.ask()
    tell(backend, handle, accuracy=0.9)
    assert backend.finished_count() == 1 and handle.number == 6


def test_a_fixed_space_never_runs_out(tmp_path, registry):
    """KerasTuner stops when 20 draws repeat earlier trials; Optuna would sample the repeat, and so do we."""
    space = SearchSpace.from_dict(yaml.safe_load(FIXED_SPACE), registry)
    for sampler in SAMPLERS:
        backend = open_backend(tmp_path / sampler, space, registry, sampler)
        params = []
        for _ in range(5):
            handle = backend.ask()
            params.append(handle.candidate.params)
            tell(backend, handle)
        assert all(p == params[0] for p in params)


def test_an_interrupted_trial_is_retried_once_with_retry_of(tmp_path, registry, quick_space):
    backend = open_backend(tmp_path, quick_space, registry, "hyperband")
    tell(backend, backend.ask())
    interrupted = backend.ask()  # the process dies during this trial: no tell
    resumed = open_backend(tmp_path, quick_space, registry, "hyperband")
    assert resumed.recover_interrupted() == [1]
    assert resumed.records()[1] == {"trial": 1, "status": FAILED, "reason": INTERRUPTED, "retry_of": None}
    retry = resumed.ask()
    assert (retry.number, retry.retry_of, retry.candidate) == (2, 1, interrupted.candidate)
    # The retry dies too: it is failed for good, not queued again.
    again = open_backend(tmp_path, quick_space, registry, "hyperband")
    assert again.recover_interrupted() == [2]
    assert again.records()[2]["retry_of"] == 1
    fresh = again.ask()
    assert fresh.number == 3 and fresh.retry_of is None and fresh.candidate != interrupted.candidate
    tell(again, fresh)
    assert [r["trial"] for r in read_records(tmp_path)] == [0, 1, 2, 3]


@pytest.mark.parametrize("max_retries", [0, 2])
def test_max_retries_bounds_the_retries_of_one_trial(tmp_path, registry, quick_space, max_retries):
    retries = []
    for _ in range(max_retries + 2):
        backend = KerasTunerBackend(tmp_path, quick_space, registry, "image", sampler="random",
                                    expected_trials=8, max_retries=max_retries)
        backend.recover_interrupted()
        handle = backend.ask()  # and the process dies during every run of it
        retries.append(handle.retry_of)
    # The first run, then max_retries retries that all name it, then a new trial.
    assert retries == [None] + [0] * max_retries + [None]
    assert handle.number == max_retries + 1


def test_a_resumed_search_does_not_replay_its_first_candidates(tmp_path, registry, quick_space):
    backend = open_backend(tmp_path, quick_space, registry, "random")
    first = []
    for _ in range(3):
        handle = backend.ask()
        first.append(handle.candidate)
        tell(backend, handle)
    resumed = open_backend(tmp_path, quick_space, registry, "random")
    assert resumed.ask().candidate not in first


def test_sampling_failure_is_a_failed_record(tmp_path, registry, quick_space, monkeypatch):
    backend = open_backend(tmp_path, quick_space, registry, "random")
    plugin = registry.get("architecture", "cnn").plugin

    def broken_space(hp):
        raise RuntimeError("space broken on purpose")

    monkeypatch.setattr(plugin, "space", broken_space)
    monkeypatch.setattr(registry.get("architecture", "mlp").plugin, "space", broken_space)
    with pytest.raises(SamplingFailed) as failure:
        backend.ask()
    assert failure.value.number == 0 and "space broken on purpose" in failure.value.reason
    assert backend.records()[0]["status"] == FAILED
    monkeypatch.undo()
    assert backend.ask().number == 1  # the search goes on


def test_hyperband_bracket_count_fits_the_trials_asked_for():
    # max_epochs 15, factor 3: brackets of 12+4+2, 6+2 and 4 trials.
    assert hyperband_brackets(15, 8) == 2
    assert hyperband_brackets(15, 18) == 3
    assert hyperband_brackets(15, 5) == 1
    assert hyperband_brackets(15, None) is None  # a time budget only: all of KerasTuner's brackets
    assert hyperband_brackets(1, 10) == 1


def test_hyperband_promotes_the_best_even_after_failures(tmp_path, registry, quick_space):
    """KerasTuner promotes only while more trials COMPLETED than will be dropped, so one failure would
    stall the bracket; here the best completed ones go on with the next round's budget."""
    backend = open_backend(tmp_path, quick_space, registry, "hyperband", expected_trials=8)
    round0 = []
    for i in range(6):
        handle = backend.ask()
        assert handle.candidate.max_epochs == 5
        assert handle.continues is None and handle.may_be_continued
        round0.append(handle.candidate)
        tell(backend, handle, accuracy=0.5 + i / 100, status=FAILED if i in (4,) else COMPLETE)
    promoted = [backend.ask() for _ in range(1)]
    tell(backend, promoted[0])
    promoted.append(backend.ask())
    tell(backend, promoted[1])
    assert [p.candidate.max_epochs for p in promoted] == [15, 15]
    best_two = [round0[5].params, round0[3].params]  # trial 4 failed; 5 and 3 scored highest
    assert [p.candidate.params for p in promoted] == best_two
    # Each promotion continues from the weights of the trial it was promoted from; only the first round's
    # weights are worth keeping.
    assert [(p.continues, p.may_be_continued) for p in promoted] == [(5, False), (3, False)]
    nxt = backend.ask()  # the next bracket: full budget from the start
    assert nxt.candidate.max_epochs == 15 and nxt.retry_of is None
    assert nxt.continues is None and not nxt.may_be_continued


MIXED_PLUGINS = '''
from automl import Architecture, hookimpl


class Mixed(Architecture):
    """Choices KerasTuner cannot hold as they are: options of mixed types, and None."""

    name = "mixed"

    def space(self, hp):
        return {
            "pool": hp.choice("pool", [None, 2]),
            "width": hp.choice("width", [16, 0.5]),
            "mode": hp.choice("mode", ["auto", 4, True, None]),
            "norm": hp.choice("norm", [False, True]),
        }

    def build(self, inputs, params, context):
        from keras import layers

        return layers.Flatten()(inputs)


@hookimpl
def automl_register_architectures():
    return [Mixed()]
'''
MIXED_OPTIONS = {"mixed.pool": [None, 2], "mixed.width": [16, 0.5], "mixed.mode": ["auto", 4, True, None],
                 "mixed.norm": [False, True]}


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_choices_of_mixed_types_are_sampled_and_keep_their_types(tmp_path, sampler):
    """KerasTuner rejects a Choice of mixed types; before the driver declared such choices by key, every
    trial of such a plugin failed at sampling. Each value comes back as the declared option, typed."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "mixed.py").write_text(MIXED_PLUGINS)
    registry = build_registry(plugins_dir=plugins)
    space = SearchSpace.from_dict({"architectures": ["mixed", "mlp"], "augmentations": ["none"],
                                   "optimizers": ["adam"], "training": {"max_epochs": 9}}, registry)
    backend = open_backend(tmp_path / "run", space, registry, sampler, expected_trials=12)
    seen: dict[str, set] = {name: set() for name in MIXED_OPTIONS}
    candidates = []
    for _ in range(12):
        handle = backend.ask()  # raises SamplingFailed if a choice cannot be declared
        candidates.append(handle.candidate)
        for name, value in handle.candidate.params.items():
            if name in MIXED_OPTIONS:
                assert any(value is o or (value == o and type(value) is type(o)) for o in MIXED_OPTIONS[name])
                seen[name].add(repr(value))
        tell(backend, handle, accuracy=0.5 + handle.number / 100)
    assert all(r["status"] == COMPLETE for r in backend.records())
    mixed = [c for c in candidates if c.architecture == "mixed"]
    assert len(mixed) >= 3 and all(len(values) >= 2 for values in seen.values()), seen
    # The records (what the leaderboard shows) hold the options, not KerasTuner's keys, and so does the
    # reopened state.
    again = open_backend(tmp_path / "run", space, registry, sampler, expected_trials=12)
    assert [r["candidate"] for r in again.records()] == [c.to_dict() for c in candidates]
    if sampler == "hyperband":  # five trials of 3 epochs, then the best two (the last told) promoted to 9
        assert [c.max_epochs for c in candidates[:7]] == [3] * 5 + [9] * 2
        assert [c.params for c in candidates[5:7]] == [candidates[4].params, candidates[3].params]


# --- real searches through the CLI ---------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["hyperband", pytest.param("random", marks=pytest.mark.slow),
                                        pytest.param("bayesian", marks=pytest.mark.slow)])
def quick_run(request, tmp_path_factory):
    """The acceptance command: quick space, 8 trials, seed 0 (hyperband ~35 s, random ~50 s, bayesian ~60 s;
    the Bayesian oracle's Gaussian process is also exercised by the bookkeeping tests above)."""
    run_dir = tmp_path_factory.mktemp(f"quick-{request.param}") / "run"
    started = time.monotonic()
    run_cli("search", "builtin:digits", "--space", "quick", "--backend", "kerastuner", "--sampler", request.param,
            "--trials", 8, "--out", run_dir, "--seed", 0, "--quiet")
    print(f"{request.param}: {time.monotonic() - started:.1f} s")
    return request.param, run_dir


# Best test accuracy (the max over the evaluated top 3; 269 test images, so one image is 0.0037), measured on
# CPU with this command at seeds 0-7: hyperband 0.9740 0.9926 0.9888 0.9963 0.9888 0.9926 0.9888 0.9814
# (mean 0.9879; with promotions trained from scratch instead: 0.9665 at seed 0, mean 0.9870, ~20% more
# epochs); random, seeds 0-3: 0.9740 0.9926 0.9926 0.9851; bayesian, seed 0: 0.9740. Seed 0's test split is
# the hardest (0.9926 best validation accuracy, 0.9665-0.9740 on test in every variant measured; SVC 0.9665).
# Re-measured on 2026-12-01, after the quick space's MLPs lost batch norm (a smaller KerasTuner space, so other
# trials): hyperband, seeds 0-3: 0.9665 1.0000 0.9926 0.9888 — seed 0 at the low end of the range above.
BEST_TEST_ACCURACY = {"random": 0.97, "bayesian": 0.97, "hyperband": 0.96}


def test_quick_search_reaches_the_bar(quick_run):
    sampler, run_dir = quick_run
    rows = leaderboard_rows(run_dir)
    assert len(rows) >= 8 and len(finished(rows)) == 8
    assert len({r["trial"] for r in rows}) == len(rows)
    best_test = max(r["test_accuracy"] for r in rows if r["test_accuracy"] is not None)
    print(f"{sampler}: best test_accuracy {best_test:.4f}")
    assert best_test >= BEST_TEST_ACCURACY[sampler]


def test_rows_have_the_keys_of_an_optuna_run(quick_run, registry, quick_space):
    from automl.hp import declared_params

    _, run_dir = quick_run
    rows = leaderboard_rows(run_dir)
    declared = {p.name for family, selection in quick_space.families.items() for name, overrides in selection.items()
                for p in declared_params(registry.get(family, name).plugin, overrides)}
    for row in rows:
        assert set(COLUMNS) <= set(row)
        assert set(row) - set(COLUMNS) <= declared, set(row) - set(COLUMNS) - declared
        assert isinstance(row["epochs"], int)
        if row["architecture"] == "cnn":  # sampled types survive (KerasTuner's Choice turns bools into ints)
            assert isinstance(row["cnn.filters"], int) and isinstance(row["cnn.batch_norm"], bool), row
        else:
            assert isinstance(row["mlp.units"], int) and isinstance(row["mlp.batch_norm"], bool), row
    ranked = [r for r in rows if r["rank"] is not None]
    assert [r["rank"] for r in ranked] == list(range(1, len(ranked) + 1))
    run = RunDirectory(run_dir)
    for path in (run.config, run.leaderboard_csv, run.test_metrics, run.best / "model.keras", state_path(run_dir)):
        assert path.is_file(), path
    assert not run.journal.exists()


def test_hyperband_brackets_show_as_epochs(quick_run):
    sampler, run_dir = quick_run
    if sampler != "hyperband":
        pytest.skip("brackets are Hyperband's")
    rows = sorted(leaderboard_rows(run_dir), key=lambda r: r["trial"])
    # 8 trials = one bracket: six configurations with 5 epochs, the best two of them continued up to 15.
    assert all(1 <= r["epochs"] <= 5 for r in rows[:6]), [r["epochs"] for r in rows]
    assert all(r["epochs"] > 5 for r in rows[6:8]), [r["epochs"] for r in rows]
    params = [{k: v for k, v in r.items() if "." in k and v is not None} for r in rows]
    first_round = sorted(rows[:6], key=lambda r: -r["objective"])[:2]
    assert params[6:8] == [params[r["trial"]] for r in first_round]
    assert [r["reason"].split("; ")[0] for r in rows[6:8]] == [
        f"continued from epoch {r['epochs']} of trial {r['trial']}" for r in first_round]
    # Weights kept for promotions are gone once the search has its trials (the unpromoted four included).
    assert not RunDirectory(run_dir).warm.exists()


@pytest.mark.slow  # two real searches; a cross-backend consistency check
def test_same_candidate_same_seed_same_result_in_either_backend(tmp_path):
    """One fixed candidate, trial 0, seed 3 in both: identical trial seed, data split and candidate.
    TensorFlow on CPU is deterministic for this model, so the results match exactly (measured)."""
    space = tmp_path / "fixed.yaml"
    space.write_text(FIXED_SPACE)
    rows = {}
    for backend, sampler in (("optuna", "random"), ("kerastuner", "random")):
        run_dir = tmp_path / backend
        run_cli("search", "builtin:digits", "--space", space, "--trials", 1, "--out", run_dir, "--seed", 3,
                "--backend", backend, "--sampler", sampler, "--pruner", "none", "--quiet")
        [rows[backend]] = leaderboard_rows(run_dir)
    optuna, kerastuner = rows["optuna"], rows["kerastuner"]
    assert set(optuna) == set(kerastuner)  # the same keys, hyperparameter columns included
    print(f"val_accuracy optuna {optuna['val_accuracy']!r} kerastuner {kerastuner['val_accuracy']!r}")
    for key in ("val_accuracy", "val_loss", "epochs", "best_epoch", "param_count", "seed", "test_accuracy"):
        assert kerastuner[key] == optuna[key], key
    assert RunDirectory(tmp_path / "optuna").journal.exists() and (tmp_path / "kerastuner" / STORAGE_DIR).is_dir()


@pytest.mark.slow  # the oracle's resume is covered by test_a_resumed_search_does_not_replay_its_first_candidates
def test_sigkill_then_rerun_finishes_the_exact_count(tmp_path, tiny_cnn_space):
    run_dir = tmp_path / "run"
    # 7 trials with max_epochs 4: one Hyperband bracket, five trials of 2 epochs then the best two with 4.
    args = ["search", "builtin:digits", "--space", tiny_cnn_space, "--trials", 7, "--out", run_dir, "--seed", 3,
            "--quiet", "--backend", "kerastuner"]
    done = sigkill_after_trials(args, 3, pause=0.5)  # 0.5 s into the next trial
    assert done >= 3
    killed_at = json.loads(state_path(run_dir).read_text())["automl"]["trials"]
    running = [e for e in killed_at if e["record"] is None]
    run_cli(*args)
    rows = leaderboard_rows(run_dir)
    assert len(finished(rows)) == 7, [(r["trial"], r["status"], r["reason"]) for r in rows]
    assert len({r["trial"] for r in rows}) == len(rows)
    interrupted = [r["trial"] for r in rows if r["reason"] == INTERRUPTED]
    retried = [r["retry_of"] for r in rows if r["retry_of"] is not None and r["reason"] != INTERRUPTED]
    assert interrupted == [e["number"] for e in running] and len(interrupted) <= 1
    assert retried == interrupted  # re-run once, under a new number that names the interrupted one
    entries = json.loads(state_path(run_dir).read_text())["automl"]["trials"]
    for number in interrupted:  # the retry is the same KerasTuner trial, so its bracket stays whole
        retry = next(e for e in entries if e["retry_of"] == number and e["record"]["reason"] != INTERRUPTED)
        assert retry["trial_id"] == entries[number]["trial_id"]
    print(f"killed after {done} finished trials; interrupted {interrupted}; rows {len(rows)}")


NAN_PLUGINS = '''
from automl import Optimizer, hookimpl


class ExplodesThrice(Optimizer):
    """A learning rate far too high (NaN loss) in trials 0, 1 and 2 (with --seed 0 the trial seed is the
    trial number), a sane one afterwards."""

    name = "explodes_thrice"

    def space(self, hp):
        return {}

    def build(self, params, context):
        import keras

        if context.seed % 100_003 < 3:
            return keras.optimizers.SGD(1e9)
        return keras.optimizers.Adam(0.003)


@hookimpl
def automl_register_optimizers():
    return [ExplodesThrice()]
'''


def test_three_nan_trials_in_a_row_do_not_abort_the_search(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "nan.py").write_text(NAN_PLUGINS)
    space = tmp_path / "space.yaml"
    space.write_text("""
architectures:
  mlp: {layers: 1, units: 32}
augmentations: [none]
optimizers: [explodes_thrice]
training: {batch_size: 64, max_epochs: 2, patience: 2}
""")
    run_dir = tmp_path / "run"
    run_cli("search", "builtin:digits", "--space", space, "--trials", 2, "--out", run_dir, "--seed", 0, "--quiet",
            "--plugins-dir", plugins, "--backend", "kerastuner", "--sampler", "random")
    rows = sorted(leaderboard_rows(run_dir), key=lambda r: r["trial"])
    assert [r["status"] for r in rows] == ["failed"] * 3 + ["complete"] * 2
    assert all("non-finite" in r["reason"] for r in rows[:3])
