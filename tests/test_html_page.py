"""The HTML builder behind report.html and the benchmark reports: user text is escaped, markup is not."""

from html.parser import HTMLParser

from automl import html_page as hp

REASON = "RuntimeError: <script>alert(1)</script> & co"
ESCAPED_REASON = "RuntimeError: &lt;script&gt;alert(1)&lt;/script&gt; &amp; co"


class Cells(HTMLParser):
    """Header cells, body rows and img attributes of a page, as a browser would read them."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: list[str] = []
        self.rows: list[list[str]] = []
        self.images: list[dict[str, str | None]] = []
        self._cell: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "img":
            self.images.append(dict(attrs))

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            (self.headers if tag == "th" else self.rows[-1]).append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def parse(text: str) -> Cells:
    parser = Cells()
    parser.feed(text)
    parser.close()
    return parser


def test_user_text_is_escaped_everywhere_and_markup_is_kept():
    assert hp.escape(REASON) == ESCAPED_REASON
    assert hp.escape(hp.Markup("<b>x</b>")) == "<b>x</b>"  # already HTML: not escaped twice
    assert hp.paragraph(REASON, css_class="note") == f'<p class="note">{ESCAPED_REASON}</p>'
    assert hp.heading("a < b", 3) == "<h3>a &lt; b</h3>"
    assert hp.bullet_list([REASON, hp.Markup("<code>x</code>")]) == (
        f"<ul><li>{ESCAPED_REASON}</li><li><code>x</code></li></ul>")
    page = hp.page("run <1>", [hp.paragraph(REASON), REASON])  # a plain str body part is escaped too
    assert "<script>" not in page and page.count(ESCAPED_REASON) == 2
    assert "<title>run &lt;1&gt;</title>" in page and "<h1>run &lt;1&gt;</h1>" in page


def test_page_skeleton():
    page = hp.page("t", [])
    assert page.startswith("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">")
    assert page.count("<style>") == 1 and hp.STYLE in page and page.rstrip().endswith("</html>")


def test_table_with_and_without_a_header():
    table = hp.table([[1, 0.5, REASON], ["2", "", hp.Markup("<code>adam</code>")]], ["trial", "score", "reason"],
                     css_class="leaderboard", table_id="leaderboard")
    assert '<table id="leaderboard" class="leaderboard">' in table and "<script>" not in table
    assert "<td><code>adam</code></td>" in table
    cells = parse(table)
    assert cells.headers == ["trial", "score", "reason"]
    assert [row for row in cells.rows if row] == [["1", "0.5", REASON], ["2", "", "adam"]]
    summary = hp.table([("data", "a&b")], css_class="summary")
    assert "<thead>" not in summary and "<th>" not in summary
    assert parse(summary).rows == [["data", "a&b"]]


def test_image_tag_escapes_its_attributes():
    image = hp.image('plots/a "b".png', "<alt>")
    assert image == '<figure><img src="plots/a &quot;b&quot;.png" alt="&lt;alt&gt;"></figure>'
    assert parse(image).images == [{"src": 'plots/a "b".png', "alt": "<alt>"}]


def test_section_holds_its_parts_in_order():
    section = hp.section("notes", [hp.heading("Notes"), hp.paragraph("x")])
    assert section == '<section id="notes">\n<h2>Notes</h2>\n<p>x</p>\n</section>'
