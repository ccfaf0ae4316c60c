"""A run the lab measured (tests/reports/fixtures/measured-dc2-down: `halab demo`'s dc2-down
under Locust's load, with its prediction) turned into a report: well-formed HTML, every figure
present and drawn, and the headline numbers equal to what the checkers compute from the history."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from reports import headline
from reports.run_report import build
from scenarios import checkers

RUN = Path(__file__).parent / "fixtures" / "measured-dc2-down"
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "embed", "source", "track", "wbr"}


class Strict(HTMLParser):
    """Every element closed in order (the page's SVG is XML: its empty elements self-close)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'} at {self.getpos()}")
        else:
            self.stack.pop()


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> str:
    return build(RUN, None, tmp_path_factory.mktemp("rec")).html.read_text(encoding="utf-8")


def test_the_html_is_well_formed(page):
    p = Strict()
    p.feed(page)
    p.close()
    assert p.errors == [] and p.stack == [], (p.errors[:5], p.stack)


def test_every_figure_is_present_and_drawn(page):
    figures = dict(re.findall(r'<figure class="(\w+)"[^>]*>(.*?)</figure>', page, re.S))
    assert {"timeline", "propagation", "states", "topology"} <= set(figures)
    for kind, body in re.findall(r'<figure class="(\w+)"[^>]*>(.*?)</figure>', page, re.S):
        svg = ET.fromstring(body.strip())  # strict XML: a truncated or malformed figure fails here
        drawn = [e for e in svg.iter() if e.tag.rsplit("}", 1)[-1] in ("path", "rect", "line", "polyline", "text", "use")]
        assert len(drawn) > 20, f"{kind}: {len(drawn)} drawing elements"
    assert len(re.findall(r'<figure class="timeline"', page)) == 2  # rag_query and policy_update


def test_the_headline_numbers_are_the_checkers(page):
    from harness.history import read_jsonl

    history = read_jsonl(RUN / "history.jsonl")
    fo = checkers.failover(history)[0]
    avail = checkers.availability(history)
    prop = checkers.propagation(history)

    def cell(name: str) -> str:
        return re.search(rf"<tr><td>{re.escape(name)}</td><td>([^<]*)</td>", page).group(1)

    assert cell("detection time (s)") == headline.fmt(round(fo.detection_s, 2))
    assert cell("recovery time (s)") == headline.fmt(round(fo.recovery_s, 2))
    for f, a in avail.items():
        assert cell(f"failed requests, {f}") == headline.fmt(a.fail + a.info)
    assert avail["policy_update"].fail + avail["policy_update"].info > 0  # seed: no etcd majority without DC2
    for site, p in prop.items():
        assert cell(f"propagation p50, {site} (ms)") == headline.fmt(round(p.delay.p50 * 1000, 1))
    assert 9.0 < fo.detection_s < 14.0
