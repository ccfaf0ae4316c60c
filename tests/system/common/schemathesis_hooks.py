"""Formats the services' schemas name that schemathesis cannot generate by itself
(`SCHEMATHESIS_HOOKS=tests.system.common.schemathesis_hooks`, set by schemathesis_cli.run).

`format: rego`: a Rego module OPA compiles. A JSON Schema cannot say "compiles"; the format
names the constraint, and this strategy generates values that meet it, so a schema-valid
policy is a compilable one and a rejected one is a real mismatch.
"""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st

_NAME = st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True).filter(
    lambda n: n not in {"default", "package", "import", "not", "with", "as", "some", "else", "true", "false",
                        "null", "if", "in", "every", "contains"})
_VALUE = st.one_of(st.booleans(), st.integers(-1000, 1000), st.from_regex(r"[a-z ]{0,12}", fullmatch=True).map(
    lambda s: f'"{s}"'))


@st.composite
def rego_module(draw) -> str:
    package = ".".join(draw(st.lists(_NAME, min_size=1, max_size=3)))
    rules = draw(st.dictionaries(_NAME, _VALUE, min_size=1, max_size=4))
    body = "\n".join(f"default {name} := {str(v).lower() if isinstance(v, bool) else v}" for name, v in rules.items())
    return f"package {package}\n\n{body}\n"


schemathesis.openapi.format("rego", rego_module())
