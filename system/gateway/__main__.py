"""`python -m system.gateway` serves; `python -m system.gateway seed ...` installs the defaults.

    python -m system.gateway seed --etcd http://etcd1:2379 --rag rag1:8000 --cms cms1:8000 \
        --llm http://llm:8000 --opa http://opa1:8181 --vault http://vault1:8200 \
        --consumers consumers.json   # [{"username", "key", "groups", "role"}, ...]
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] != "seed":
        from .app import run

        run()
        return 0
    p = argparse.ArgumentParser(prog="python -m system.gateway seed")
    p.add_argument("--etcd", required=True)
    p.add_argument("--rag", action="append", required=True, help="host:port, repeatable")
    p.add_argument("--cms", action="append", required=True, help="host:port, repeatable")
    p.add_argument("--llm", required=True, help="LLM base URL or full chat/completions URL")
    p.add_argument("--opa", required=True)
    p.add_argument("--vault", required=True)
    p.add_argument("--model", default="halab-stub-1")
    p.add_argument("--consumers", help="JSON file: list of {username, key, groups, role}")
    args = p.parse_args(argv[1:])
    from .seed import ConsumerSpec, default_routes, seed

    consumers = []
    if args.consumers:
        with open(args.consumers) as fh:
            for c in json.load(fh):
                consumers.append(ConsumerSpec(c["username"], c["key"], tuple(c.get("groups", ())), c.get("role", "user")))
    rev = seed(args.etcd, default_routes(rag_nodes=args.rag, cms_nodes=args.cms, llm_endpoint=args.llm,
                                         opa_url=args.opa, vault_addr=args.vault, model=args.model), consumers)
    print(f"seeded at etcd revision {rev}: routes rag, cms, llm-chat; {len(consumers)} consumers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
