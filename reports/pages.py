"""Templates (jinja2, shipped as package data in reports/templates) rendered into pages (not named html.py: run
 from reports/, that name would shadow the standard library's html)."""

from __future__ import annotations

from typing import Any

import jinja2

from reports.headline import DASH

_ENV = jinja2.Environment(loader=jinja2.PackageLoader("reports", "templates"), autoescape=jinja2.select_autoescape(
    enabled_extensions=("html", "html.j2"), default_for_string=False), trim_blocks=True, lstrip_blocks=True,
    undefined=jinja2.StrictUndefined)


def _valid(v: Any) -> str:
    return {True: "pass", False: "FAIL", "unknown": "unknown", None: DASH}.get(v, str(v))


_ENV.filters["valid"] = _valid
_ENV.filters["num"] = lambda x, spec=",.2f": DASH if x is None else format(x, spec)


def render(template: str, **context: Any) -> str:
    return _ENV.get_template(template).render(**context)
