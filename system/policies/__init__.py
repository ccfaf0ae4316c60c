"""halab's default policy set: one Rego module, `authz`, that the CMS installs and the
gateway's `opa` plugin asks (POST /v1/data/halab/authz), and the document it reads its route
rules from, `authz-routes` (data.policy_data["authz-routes"]: data, so a change of a rule
compiles nothing).

There is exactly one copy: the CMS seeds it (`python -m system.cms.seed`), the topology
seeds it through the CMS, and the query-path tests load it into OPA directly.
"""

import json
from importlib import resources

DEFAULT_POLICY_ID = "authz"
DEFAULT_AUTHZ_REGO = resources.files(__name__).joinpath("authz.rego").read_text(encoding="utf-8")
ROUTES_DOCUMENT_ID = "authz-routes"
DEFAULT_DOCUMENTS: dict[str, dict] = {
    ROUTES_DOCUMENT_ID: json.loads(resources.files(__name__).joinpath("authz-routes.json").read_text(encoding="utf-8")),
}
