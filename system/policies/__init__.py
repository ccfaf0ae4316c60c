"""halab's default policy set: one Rego module, `authz`, that the CMS installs and the
gateway's `opa` plugin asks (POST /v1/data/halab/authz).

There is exactly one copy: the CMS seeds it (`python -m system.cms.seed`), the topology
seeds it through the CMS, and the query-path tests load it into OPA directly.
"""

from importlib import resources

DEFAULT_POLICY_ID = "authz"
DEFAULT_AUTHZ_REGO = resources.files(__name__).joinpath("authz.rego").read_text(encoding="utf-8")
