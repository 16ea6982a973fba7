"""The model card (model_card.json) and the other files that describe an export folder."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.errors import RunDirectoryError

if TYPE_CHECKING:
    pass

CARD_FILE = "model_card.json"
CANDIDATE_FILE = "candidate.json"


def file_hashes(folder: Path, exclude: Iterable[str] = ()) -> dict[str, str]:
    """sha256 of every file under ``folder``, keyed by its relative POSIX path."""
    hashes = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative in exclude:
            continue
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        hashes[relative] = digest.hexdigest()
    return hashes



def exported_trials(card: dict[str, Any]) -> list[int]:
    """The trials a model card's model is made of: the ensemble's members, or the one trial."""
    return (card.get("ensemble") or {}).get("trials") or [card.get("trial")]


def describe_export(card: dict[str, Any]) -> str:
    """``trial 7`` or ``the average of trials 7, 3, 9``, for messages."""
    trials = exported_trials(card)
    return f"trial {trials[0]}" if len(trials) == 1 else f"the average of trials {', '.join(map(str, trials))}"


def read_card(export_dir: str | Path) -> dict[str, Any]:
    path = Path(export_dir) / CARD_FILE
    if not path.is_file():
        raise RunDirectoryError(f"{export_dir} has no {CARD_FILE}; pass a run directory or a folder written by "
                                "automl export.")
    return json.loads(path.read_text())
