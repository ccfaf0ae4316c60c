# halab's default authorisation policy, installed through the CMS by system.cms.seed.
#
# The gateway's `opa` plugin (as APISIX's) asks OPA for data.halab.authz with
#   input {"type": "http", "request": {"method", "path", "headers", "query"},
#          "consumer": {"username", "groups", "role"}, "route": {"id"}}
# and reads {"allow": bool, "reason": str, "status_code": int}.
package halab.authz

default allow := false

# Admins may do anything.
allow if input.consumer.role == "admin"

# Users may query the RAG service and the LLM.
allow if {
	input.consumer.role == "user"
	some prefix in user_prefixes
	startswith(input.request.path, prefix)
}

user_prefixes := ["/rag/", "/llm/"]

# CMS write routes are for role admin only (the rule above already keeps users out of
# /cms/; this names the reason).
cms_write if {
	startswith(input.request.path, "/cms/")
	input.request.method in {"POST", "PUT", "PATCH", "DELETE"}
}

reason := "cms write routes are for role admin only" if {
	not allow
	cms_write
}

reason := "users may only query /rag/* and /llm/*" if {
	not allow
	not cms_write
}

status_code := 401 if {
	not allow
	not input.consumer.username
}

status_code := 403 if {
	not allow
	input.consumer.username
}
