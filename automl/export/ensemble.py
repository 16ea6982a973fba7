"""Which trials an exported ensemble averages, and the averaging model itself."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from automl.leaderboard import is_finite_number

if TYPE_CHECKING:
    import keras

    from automl.search_space import Constraints


def ensemble_members(ranked: Sequence[Mapping[str, Any]], k: int,
                     constraints: Constraints | None = None) -> list[Mapping[str, Any]]:
    """The trials an ensemble of the best ``k`` averages: those of them trained at the best trial's input size
    (``training.image_size``; one model takes one input size), not continued by another of them, and within
    ``ENSEMBLE_MAX_ACCURACY_GAP`` of the best's validation accuracy. Only the best ``k`` are candidates, since
    only the top-k trials' models are kept. With ``constraints``, the average stops before the trial whose
    parameters (or batch-1 latency) would take the sum over a limit: the exported model must meet it too."""
    if not ranked:
        return []
    size = (ranked[0].get("candidate") or {}).get("image_size")
    # A trial that another one of them continued (training.continue_best) is that one's earlier self: averaging
    # the two counts one network twice and pulls the continued, better one back towards where it started.
    superseded = {r.get("continued_from") for r in ranked[:k]}
    members = [r for r in ranked[:k] if (r.get("candidate") or {}).get("image_size") == size
               and r["trial"] not in superseded and not _far_behind(r, ranked[0])]
    return members[:_members_within(members, constraints)] if constraints and constraints.has_limits else members


def _members_within(members: Sequence[Mapping[str, Any]], constraints: Constraints) -> int:
    """How many of ``members``, best first, an average can hold and meet ``constraints`` (at least one: the best
    trial met them on its own)."""
    params, latency = 0, 0.0
    for count, member in enumerate(members):
        params += int(member.get("param_count") or 0)
        latency += member["latency_ms"] if is_finite_number(member.get("latency_ms")) else 0.0
        if count and (constraints.params_violation(params) or constraints.latency_violation(latency)):
            return count
    return len(members)


# Averaging helps models of about the same quality; one far behind the best drags the average towards its
# mistakes (a photo trial at 0.79 beside a continued one at 0.92). Digits' top three are closer: on the three
# seeds of benchmarks/search_quality.py every ensemble kept all three.
ENSEMBLE_MAX_ACCURACY_GAP = 0.05


def _far_behind(record: Mapping[str, Any], best: Mapping[str, Any]) -> bool:
    accuracy, best_accuracy = record.get("val_accuracy"), best.get("val_accuracy")
    if not isinstance(accuracy, (int, float)) or not isinstance(best_accuracy, (int, float)):
        return False
    return accuracy < best_accuracy - ENSEMBLE_MAX_ACCURACY_GAP


def ensemble_shortfall(ranked: Sequence[Mapping[str, Any]], members: Sequence[Mapping[str, Any]], k: int) -> str:
    """Says why an ensemble of the best ``k`` averages fewer trials, naming each trial left out and why."""
    size = (members[0].get("candidate") or {}).get("image_size")
    continued_by = {r.get("continued_from"): r["trial"] for r in ranked[:k] if r.get("continued_from") is not None}
    kept = {m["trial"] for m in members}

    def reason(record: Mapping[str, Any]) -> str:
        if record["trial"] in continued_by:
            return f"trial {record['trial']} is continued by trial {continued_by[record['trial']]}"
        if _far_behind(record, ranked[0]):
            return (f"trial {record['trial']}'s val_accuracy {record['val_accuracy']:.4f} is more than "
                    f"{ENSEMBLE_MAX_ACCURACY_GAP} below the best's {ranked[0]['val_accuracy']:.4f}")
        if (record.get("candidate") or {}).get("image_size") == size:  # left out by ensemble_members' constraints
            return (f"trial {record['trial']} would take the average over the deployment limit (--max-params / "
                    "--max-latency-ms: the averaged models' parameters and latencies add up)")
        return (f"trial {record['trial']} trained at {(record.get('candidate') or {}).get('image_size')} px, not "
                f"the best trial's {size} px (training.image_size; one model takes one input size)")

    reasons = [reason(r) for r in ranked[:k] if r["trial"] not in kept]
    return (f"--ensemble {k}: only {len(members)} of the best {k} trials are averaged, trial(s) "
            f"{', '.join(str(m['trial']) for m in members)}: {'; '.join(reasons)}")


def combine(models: list[keras.Model], members: Sequence[Mapping[str, Any]]) -> keras.Model:
    """The one model to export: the trial's own, or the average of several trials' (named after them)."""
    from automl.model import average_ensemble

    if len(models) == 1:
        return models[0]
    return average_ensemble(models, [f"trial_{int(member['trial']):04d}" for member in members])
