"""The HTML pages automl writes (a run's report.html, the benchmark reports): one page skeleton and stylesheet,
and the few elements they use.

Every text argument is escaped, except :class:`Markup`, which is HTML already built here or by a caller who
escaped its text; so user text (a trial's failure reason, a plugin name) can never inject markup.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence


class Markup(str):
    """HTML that is safe as it is: inserted without escaping it again."""


def escape(text: object) -> Markup:
    return text if isinstance(text, Markup) else Markup(html.escape(str(text)))


def _element(tag: str, content: object = "", *, element_id: str | None = None, css_class: str | None = None) -> Markup:
    attributes = "".join(f' {name}="{escape(value)}"'
                         for name, value in (("id", element_id), ("class", css_class)) if value is not None)
    return Markup(f"<{tag}{attributes}>{escape(content)}</{tag}>")


def _joined(parts: Iterable[object], separator: str = "") -> Markup:
    return Markup(separator.join(escape(part) for part in parts))


def heading(text: str, level: int = 2) -> Markup:
    return _element(f"h{level}", text)


def paragraph(text: str, css_class: str | None = None) -> Markup:
    return _element("p", text, css_class=css_class)


def bullet_list(items: Iterable[str]) -> Markup:
    return _element("ul", _joined(_element("li", item) for item in items))


def table(rows: Iterable[Sequence[object]], headers: Sequence[object] | None = None, *,
          css_class: str | None = None, table_id: str | None = None) -> Markup:
    """A table (with a header row if ``headers``), in a box that scrolls sideways when it is wider than the page."""
    body = _joined((_element("tr", _joined(_element("td", cell) for cell in row)) for row in rows), "\n")
    inner = _element("tbody", Markup(f"\n{body}\n"))
    if headers:
        inner = Markup(f'{_element("thead", _element("tr", _joined(_element("th", h) for h in headers)))}\n{inner}')
    return _element("div", _element("table", Markup(f"\n{inner}\n"), element_id=table_id, css_class=css_class),
                    css_class="scroll")


def image(src: str, alt: str) -> Markup:
    return Markup(f'<figure><img src="{escape(src)}" alt="{escape(alt)}"></figure>')


def section(section_id: str, parts: Iterable[object]) -> Markup:
    return _element("section", Markup(f"\n{_joined(parts, chr(10))}\n"), element_id=section_id)


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222;
       line-height: 1.45; }
h1 { margin-bottom: 0.2em; }
code { background: #f3f3f3; padding: 0 3px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: left; }
th { background: #f3f3f3; }
table.summary td { border: none; padding: 2px 12px 2px 0; vertical-align: top; }
table.summary td:first-child { font-weight: 600; }
table.leaderboard { font-size: 0.85em; }
table.leaderboard th, table.leaderboard td { text-align: right; }
table.leaderboard th { position: sticky; top: 0; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
p.note { background: #fff6dd; border-left: 4px solid #e0b000; padding: 0.5em 0.8em; }
"""


def page(title: str, body: Iterable[object]) -> str:
    """A self-contained page: ``title`` as its title and first heading, then the ``body`` parts in order."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>{escape(title)}</h1>
{_joined(body, chr(10))}
</body>
</html>
"""
