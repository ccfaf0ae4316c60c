# The default `authz` policy the gateway's opa plugin asks (POST /v1/data/halab/authz).
# Input: APISIX 3.x's opa input, sent with with_route and with_consumer:
#   {"type": "http", "request": {scheme, method, host, port, path, headers, query},
#    "var": {...}, "route": {name, uri, plugins, ...}, "consumer": {username, labels, ...}}.
# APISIX labels are strings: the role is labels.role, the groups labels.groups ("a,b").
# Result: {"allow": bool, "reason": str, "status_code": 401/403} — the gateway denies with both.
package halab.authz

default allow := false

role := object.get(input, ["consumer", "labels", "role"], "none")

groups := {g | some g in split(object.get(input, ["consumer", "labels", "groups"], ""), ","); g != ""}

# Admins may do everything (the CMS's policy and user APIs included).
allow if role == "admin"

# Users ask questions and read document metadata.
allow if {
	role == "user"
	input.request.method == "POST"
	input.request.path == "/rag/query"
}

allow if {
	role == "user"
	input.request.method == "GET"
	startswith(input.request.path, "/rag/documents/")
}

# Editors ingest documents.
allow if {
	"editors" in groups
	startswith(input.request.path, "/rag/documents")
}

# Only services (the RAG service's hairpin, an OpenAI SDK client with a service key) call the LLM.
allow if {
	role == "service"
	input.request.method == "POST"
	input.request.path in {"/llm/chat", "/llm/v1/chat/completions"}
}

allow if {
	role == "service"
	input.request.method == "GET"
	startswith(input.request.path, "/llm/v1/models")
}

reason := sprintf("%s (role %s) may not %s %s", [
	object.get(input, ["consumer", "username"], "anonymous"),
	role,
	input.request.method,
	input.request.path,
]) if not allow

# The gateway answers with this status when it denies: 401 for no identity, 403 otherwise.
status_code := 401 if {
	not allow
	not input.consumer.username
}

status_code := 403 if {
	not allow
	input.consumer.username
}
