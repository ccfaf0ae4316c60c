"""Install halab's default policy set through the CMS API (idempotent).

    python -m system.cms.seed --cms-url http://cms:8000 --identity-key-file KEY --wait-enforced

or from Python (the topology calls this once the CMS answers /readyz):

    from system.cms.seed import seed
    results = seed("http://10.0.0.5:8000", admin="halab-admin", identity_key=key)

The default set is one policy, id `authz`, package `halab.authz` (system/policies/authz.rego),
and the document it reads its route rules from, `authz-routes` (installed first, so the
policy never runs without it): admins may do anything, users may query /rag and read
document metadata, editors ingest, only the service role calls /llm/chat. Seeding the same
content again writes no new version ("unchanged": true).
It talks to the CMS directly (not through the gateway, which needs this very policy to let
an admin in), naming the admin in X-Consumer-Username, signed with the identity key the
gateways sign with (system/common/identity.py): the CMS believes no unsigned name.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import httpx

from system.common import identity
from system.policies import DEFAULT_AUTHZ_REGO, DEFAULT_DOCUMENTS, DEFAULT_POLICY_ID

DEFAULT_ADMIN = "halab-admin"


def default_policies() -> dict[str, dict]:
    """id -> {"rego", "description"}: the policies `seed` installs."""
    return {DEFAULT_POLICY_ID: {"rego": DEFAULT_AUTHZ_REGO, "description": "halab default policy set"}}


def default_documents() -> dict[str, dict]:
    """id -> {"data", "description"}: the policy documents `seed` installs."""
    return {doc_id: {"data": data, "description": "halab default route rules"} for doc_id, data in DEFAULT_DOCUMENTS.items()}


def seed(cms_url: str, admin: str = DEFAULT_ADMIN, *, identity_key: str | bytes, wait_enforced: bool = False,
         ready_timeout_s: float = 60.0, client: httpx.Client | None = None,
         policies: dict[str, dict] | None = None, documents: dict[str, dict] | None = None) -> list[dict]:
    """PUT every document of `documents` (id -> {"data", "description"}; default:
    `default_documents()`), then every policy of `policies` (id -> {"rego", "description"};
    default: `default_policies()`); returns the CMS's answers to the policies. Waits up to
    `ready_timeout_s` for the CMS's /readyz first; raises httpx.HTTPStatusError on a refusal."""
    own = client is None
    key = identity_key.encode() if isinstance(identity_key, str) else identity_key
    client = client or httpx.Client(base_url=cms_url.rstrip("/"), timeout=30.0, trust_env=False)
    try:
        deadline = time.monotonic() + ready_timeout_s
        while True:
            try:
                if client.get("/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"CMS at {cms_url} not ready within {ready_timeout_s} s")
            time.sleep(0.5)
        wait = {"wait": "enforced"} if wait_enforced else None
        for doc_id, body in (documents if documents is not None else default_documents()).items():
            client.put(f"/cms/policy-data/{doc_id}", json=body, headers=identity.headers(key, admin),
                       params=wait).raise_for_status()
        results = []
        for pid, body in (policies if policies is not None else default_policies()).items():
            r = client.put(f"/cms/policies/{pid}", json=body, headers=identity.headers(key, admin), params=wait)
            r.raise_for_status()
            results.append(r.json())
        return results
    finally:
        if own:
            client.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m system.cms.seed", description=__doc__.splitlines()[0])
    p.add_argument("--cms-url", required=True, help="e.g. http://cms:8000")
    p.add_argument("--admin", default=DEFAULT_ADMIN, help="the author recorded in the policies' history")
    p.add_argument("--wait-enforced", action="store_true", help="wait until the local OPA loaded each policy")
    p.add_argument("--identity-key-file", required=True, type=argparse.FileType("r"),
                   help="the key the gateways sign identities with (a file: never on a command line)")
    p.add_argument("--ready-timeout", type=float, default=60.0)
    args = p.parse_args(argv)
    key = args.identity_key_file.read().strip()
    for result in seed(args.cms_url, args.admin, identity_key=key, wait_enforced=args.wait_enforced,
                       ready_timeout_s=args.ready_timeout):
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
