# The default `authz` policy the gateway's opa plugin asks (POST /v1/data/halab/authz).
# Input: APISIX 3.x's opa input, sent with with_route and with_consumer:
#   {"type": "http", "request": {scheme, method, host, port, path, headers, query},
#    "var": {...}, "route": {name, uri, plugins, ...}, "consumer": {username, labels, ...}}.
# APISIX labels are strings: the role is labels.role, the groups labels.groups ("a,b").
# Result: {"allow": bool, "reason": str, "status_code": 401/403/503} — the gateway denies with both.
#
# Who may call which route is data, not code: the document `authz-routes`
# (system/policies/authz-routes.json, data.policy_data["authz-routes"]), which policy_sync
# writes through OPA's Data API, so changing a rule compiles nothing. This module is the code
# that reads it: a rule {"role" or "group", "method"?, "path" or "prefix"} allows a request
# whose consumer has that role or group, with that method (any, if none), to that path or
# under that prefix.
package halab.authz

default allow := false

role := object.get(input, ["consumer", "labels", "role"], "none")

groups := {g | some g in split(object.get(input, ["consumer", "labels", "groups"], ""), ","); g != ""}

# True only while the document is missing (this rule is in every decision's answer: the
# rules themselves are read in place, not copied into it).
unloaded if not data.policy_data["authz-routes"]

# Admins may do everything (the CMS's policy and user APIs included): code, so that a bad
# document can never lock the admins out of fixing it.
allow if role == "admin"

allow if {
	some rule in data.policy_data["authz-routes"].rules
	holder(rule)
	method(rule)
	target(rule)
}

holder(rule) if rule.role == role

holder(rule) if rule.group in groups

method(rule) if not rule.method

method(rule) if rule.method == input.request.method

target(rule) if rule.path == input.request.path

target(rule) if startswith(input.request.path, rule.prefix)

reason := sprintf("%s (role %s) may not %s %s", [
	object.get(input, ["consumer", "username"], "anonymous"),
	role,
	input.request.method,
	input.request.path,
]) if {
	not allow
	not unloaded
}

reason := "the routes document is not loaded in this OPA" if {
	not allow
	unloaded
}

# The gateway answers with this status when it denies: 401 for no identity, 403 otherwise, and
# 503 while the document is missing (unavailable, not forbidden: say so, do not deny).
status_code := 503 if {
	not allow
	unloaded
}

status_code := 401 if {
	not allow
	not unloaded
	not input.consumer.username
}

status_code := 403 if {
	not allow
	not unloaded
	input.consumer.username
}
