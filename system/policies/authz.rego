# The default `authz` policy the gateway's opa plugin asks (POST /v1/data/halab/authz).
# Input: {"type": "http", "request": {method, path, headers, query},
#         "consumer": {username, groups, role}, "route": {id}}.
# Result: {"allow": bool, "reason": str, "status_code": 401/403} — the gateway denies with both.
package halab.authz

default allow := false

# Admins may do everything (the CMS's policy and user APIs included).
allow if input.consumer.role == "admin"

# Users ask questions and read document metadata.
allow if {
	input.consumer.role == "user"
	input.request.method == "POST"
	input.request.path == "/rag/query"
}

allow if {
	input.consumer.role == "user"
	input.request.method == "GET"
	startswith(input.request.path, "/rag/documents/")
}

# Editors ingest documents.
allow if {
	"editors" in input.consumer.groups
	startswith(input.request.path, "/rag/documents")
}

# Only services (the RAG service's hairpin) call the LLM.
allow if {
	input.consumer.role == "service"
	input.request.method == "POST"
	input.request.path == "/llm/chat"
}

reason := sprintf("%s (role %s) may not %s %s", [
	object.get(input.consumer, "username", "anonymous"),
	object.get(input.consumer, "role", "none"),
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
