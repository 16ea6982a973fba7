"""How the data package words its errors: short reasons, and lists that stop after a few items."""

from __future__ import annotations

from collections.abc import Iterable

from automl.errors import DataError

# Messages list at most this many offending items, then "and N more".
MAX_LISTED = 20


def short_reason(exc: BaseException) -> str:
    """'TypeName: first line of the message', at most about 100 characters."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text if len(text) <= 100 else text[:97] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def listed(items: Iterable[str], limit: int | None = MAX_LISTED) -> str:
    """'a, b, c' with at most `limit` items, then 'and N more'."""
    items = list(items)
    if limit is None or len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f" and {len(items) - limit} more"


def quoted(names: Iterable[str], limit: int | None = MAX_LISTED) -> str:
    return listed((f"'{n}'" for n in names), limit)


def require_kind(preprocessing: dict, kind: str) -> None:
    """Refuse inputs of one kind (image files, a table) for a model trained on the other."""
    actual = preprocessing.get("kind") if isinstance(preprocessing, dict) else None
    if actual != kind:
        expects = {"image": "image files", "tabular": "a table (CSV)"}.get(str(actual), "other inputs")
        raise DataError(
            f"These inputs need {kind} preprocessing, but the model was trained on {actual or 'unknown'} data and "
            f"expects {expects}; give it inputs of that kind."
        )
