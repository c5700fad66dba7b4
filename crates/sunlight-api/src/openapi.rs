//! The OpenAPI 3.1 document served at `/v1/openapi.json`, written by hand with
//! `serde_json::json!` from the [`Endpoint`] table (a test checks that every route
//! is documented and nothing else is).

use serde_json::{Value, json};

use crate::router::Endpoint;

/// The whole document.
pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for endpoint in Endpoint::ALL {
        let mut op = operation(endpoint);
        if !endpoint.requires_token() {
            op["security"] = json!([]);
        }
        paths.insert(
            endpoint.path().to_string(),
            json!({ endpoint.method(): op }),
        );
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Sunlight query API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Scoped, audited read access to officials' risk and warnings. Every request is audited. An official or warning outside the token's scope is answered exactly like an unknown one (404). Values of sensitive attributes are masked unless the token has sensitive: true."
        },
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "HS256 or RS256 JWT. Required: sub, exp. Optional: nbf, iss, aud (as configured), regions (\"*\" = all), org_units, sensitive, roles ([\"handler\"] may record feedback)."
                }
            },
            "responses": {
                "Unauthorized": {
                    "description": "Missing or invalid bearer token; WWW-Authenticate: Bearer error=\"invalid_token\".",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                },
                "BadRequest": {
                    "description": "A query parameter or the body is not valid; the message names it.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                },
                "NotFound": {
                    "description": "Unknown, or outside the token's scope (indistinguishable).",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                }
            },
            "schemas": schemas()
        }
    })
}

fn operation(endpoint: Endpoint) -> Value {
    let id_param = |what: &str| {
        json!([{
            "name": "id", "in": "path", "required": true,
            "description": what, "schema": {"type": "string"}
        }])
    };
    let ok = |schema: &str, description: &str| {
        json!({
            "description": description,
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
        })
    };
    let unauthorized = json!({"$ref": "#/components/responses/Unauthorized"});
    let not_found = json!({"$ref": "#/components/responses/NotFound"});
    let bad_request = json!({"$ref": "#/components/responses/BadRequest"});
    let query = |params: &[(&str, &str, Value)]| {
        Value::Array(
            params
                .iter()
                .map(|(name, description, schema)| {
                    json!({"name": name, "in": "query", "required": false,
                           "description": description, "schema": schema})
                })
                .collect(),
        )
    };
    let s = json!({"type": "string"});
    let time = json!({"type": "string", "format": "date-time"});
    let limit = json!({"type": "integer", "minimum": 1, "maximum": crate::listing::MAX_LIMIT, "default": crate::listing::DEFAULT_LIMIT});
    match endpoint {
        Endpoint::Session => json!({
            "operationId": "getSession",
            "summary": "Who the token says the caller is, what it may see and do, and whether the closed loop is on",
            "responses": {"200": ok("SessionView", "The caller"), "401": unauthorized}
        }),
        Endpoint::Summary => json!({
            "operationId": "getSummary",
            "summary": "The board: officials in scope per code, per region and per unit, and open warnings per rule",
            "responses": {"200": ok("Summary", "Counts within the token's scope only"), "401": unauthorized}
        }),
        Endpoint::Officials => json!({
            "operationId": "listOfficials",
            "summary": "Officials in scope with code, score and open warnings, ordered by official_id",
            "parameters": query(&[
                ("code", "red, yellow, green or unknown", json!({"type": "string", "enum": ["red", "yellow", "green", "unknown"]})),
                ("region", "only this region", s.clone()),
                ("org_unit", "only this unit", s.clone()),
                ("limit", "page size", limit.clone()),
                ("cursor", "next_cursor of the previous page", s.clone()),
            ]),
            "responses": {"200": ok("OfficialsPage", "A page"), "400": bad_request, "401": unauthorized}
        }),
        Endpoint::OfficialCodes => json!({
            "operationId": "getOfficialCodes",
            "summary": "An official's code now and its changes, oldest first",
            "parameters": id_param("official id"),
            "responses": {"200": ok("CodeHistory", "The history"), "401": unauthorized, "404": not_found}
        }),
        Endpoint::Warnings => json!({
            "operationId": "listWarnings",
            "summary": "Tracked warnings in scope, newest trigger event first",
            "parameters": query(&[
                ("status", "a status, or open (pushed, received, verifying) or closed", json!({"type": "string", "enum": ["open", "closed", "pushed", "received", "verifying", "rectified", "confirmed", "dismissed"]})),
                ("level", "yellow or red (red includes escalated ones)", json!({"type": "string", "enum": ["yellow", "red"]})),
                ("rule_id", "only this rule", s.clone()),
                ("official_id", "only this official's", s.clone()),
                ("since", "trigger event time at or after", time.clone()),
                ("until", "trigger event time at or before", time.clone()),
                ("limit", "page size", limit.clone()),
                ("cursor", "next_cursor of the previous page", s.clone()),
            ]),
            "responses": {"200": ok("WarningsPage", "A page"), "400": bad_request, "401": unauthorized}
        }),
        Endpoint::WarningFeedback => json!({
            "operationId": "postWarningFeedback",
            "summary": "Record a handler's status for the warning's case: written to the feedback topic like the case system's feedback, applied by the pipeline a moment later",
            "parameters": id_param("warning id"),
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FeedbackRequest"}}}},
            "responses": {
                "202": ok("FeedbackAccepted", "On the feedback topic"),
                "400": bad_request,
                "401": unauthorized,
                "403": {"description": "The token lacks the role handler", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "404": not_found,
                "409": {"description": "The status would not move the warning forward", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "503": {"description": "The feedback topic did not take it", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            }
        }),
        Endpoint::Official => json!({
            "operationId": "getOfficial",
            "summary": "An official's risk code, open warnings and current window aggregates",
            "parameters": id_param("official id"),
            "responses": {
                "200": ok("OfficialView", "The official"),
                "401": unauthorized,
                "404": not_found
            }
        }),
        Endpoint::Warning => json!({
            "operationId": "getWarning",
            "summary": "A warning with its lifecycle status, history, case and escalation",
            "parameters": id_param("warning id"),
            "responses": {
                "200": ok("WarningView", "The warning"),
                "401": unauthorized,
                "404": not_found
            }
        }),
        Endpoint::Rules => json!({
            "operationId": "getRules",
            "summary": "The loaded rule pack",
            "responses": {
                "200": ok("RulesView", "The pack and its rules"),
                "401": unauthorized
            }
        }),
        Endpoint::OpenApi => json!({
            "operationId": "getOpenApi",
            "summary": "This document (no token needed)",
            "responses": {
                "200": {"description": "OpenAPI 3.1 document", "content": {"application/json": {}}}
            }
        }),
    }
}

fn schemas() -> Value {
    let s = json!({"type": "string"});
    let time = json!({"type": "string", "format": "date-time"});
    let opt_s = json!({"type": ["string", "null"]});
    let r = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    let int = json!({"type": "integer", "minimum": 0});
    let code = json!({"type": "string", "enum": ["red", "yellow", "green", "unknown"]});
    let counts = json!({
        "total": int, "red": int, "yellow": int, "green": int, "unknown": int
    });
    let with_counts = |extra: Value| {
        let mut props = counts.as_object().unwrap().clone();
        props.extend(extra.as_object().unwrap().clone());
        json!({"type": "object", "properties": props})
    };
    let page = |item: &str| {
        json!({
            "type": "object",
            "required": ["items", "total", "next_cursor", "casework"],
            "properties": {
                "items": {"type": "array", "items": r(item)},
                "total": {"type": "integer", "minimum": 0, "description": "items matching the filters, all pages"},
                "next_cursor": opt_s,
                "casework": {"type": "boolean"}
            }
        })
    };
    let mut extra = json!({
        "SessionView": {
            "type": "object",
            "properties": {
                "sub": s, "roles": {"type": "array", "items": s},
                "can_handle": {"type": "boolean", "description": "roles holds handler"},
                "sensitive": {"type": "boolean"}, "casework": {"type": "boolean"},
                "regions": {"type": "array", "items": s}, "org_units": {"type": "array", "items": s}
            }
        },
        "CodeCounts": {"type": "object", "properties": counts},
        "Summary": {
            "type": "object",
            "properties": {
                "casework": {"type": "boolean"}, "computed_at": time,
                "officials": r("CodeCounts"),
                "regions": {"type": "array", "items": with_counts(json!({"region": s}))},
                "org_units": {"type": "array", "items": with_counts(json!({"region": s, "org_unit": s}))},
                "open_warnings": {
                    "type": "object",
                    "properties": {
                        "total": int,
                        "by_rule": {"type": "array", "items": {"type": "object", "properties": {"rule_id": s, "total": int, "red": int, "yellow": int}}}
                    }
                }
            }
        },
        "OfficialItem": {
            "type": "object",
            "properties": {
                "official_id": s, "region": s, "org_unit": s, "code": code,
                "score": {"type": ["number", "null"]}, "open_warnings": int
            }
        },
        "OfficialsPage": page("OfficialItem"),
        "WarningItem": {
            "type": "object",
            "properties": {
                "warning_id": s, "rule_id": s, "rule_version": int, "official_id": s,
                "region": s, "org_unit": s, "level": r("Level"), "status": r("WarningStatus"),
                "occurred_at": time, "detected_at": time, "title": s, "key": r("KeyMap"),
                "case_id": opt_s, "escalated": {"type": "boolean"}
            }
        },
        "WarningsPage": page("WarningItem"),
        "CodeHistory": {
            "type": "object",
            "properties": {
                "official_id": s, "region": s, "org_unit": s, "casework": {"type": "boolean"},
                "current": {"type": "object", "properties": {"code": code, "score": {"type": ["number", "null"]}, "computed_at": time}},
                "history": {"type": "array", "items": {"type": "object", "properties": {
                    "at": time, "code": code, "previous": code, "score": {"type": "number"},
                    "warnings": {"type": "array", "items": s}
                }}}
            }
        },
        "FeedbackRequest": {
            "type": "object",
            "required": ["status"],
            "additionalProperties": false,
            "properties": {
                "status": {"type": "string", "enum": ["received", "verifying", "rectified", "confirmed", "dismissed"]},
                "note": s
            }
        },
        "FeedbackAccepted": {
            "type": "object",
            "properties": {"accepted": {"type": "boolean"}, "warning_id": s, "status": r("WarningStatus"), "handler": s, "at": time}
        },
        "Condition": {
            "type": "object",
            "properties": {"measure": s, "op": {"type": "string", "enum": [">=", ">", "<=", "<", "==", "!="]}, "threshold": {"type": "number"}, "value": {"type": "number"}}
        }
    });
    let mut base = json!({
        "Error": {
            "type": "object",
            "required": ["error", "message"],
            "properties": {"error": s, "message": s}
        },
        "KeyMap": {
            "type": "object",
            "description": "Key fields in the rule's order. Values of sensitive attributes are masked.",
            "additionalProperties": {"type": "string"}
        },
        "Level": {"type": "string", "enum": ["yellow", "red"]},
        "WarningStatus": {
            "type": "string",
            "enum": ["pushed", "received", "verifying", "rectified", "confirmed", "dismissed"]
        },
        "TimeRange": {
            "type": "object",
            "required": ["start", "end"],
            "properties": {"start": time, "end": time}
        },
        "Risk": {
            "type": "object",
            "required": ["code", "score", "computed_at"],
            "properties": {
                "code": {"type": "string", "enum": ["green", "yellow", "red", "unknown"], "description": "unknown when the closed loop is off"},
                "score": {"type": ["number", "null"]},
                "computed_at": time
            }
        },
        "WarningSummary": {
            "type": "object",
            "required": ["warning_id", "rule_id", "rule_version", "level", "status", "occurred_at", "key", "title"],
            "properties": {
                "warning_id": s, "rule_id": s,
                "rule_version": {"type": "integer", "minimum": 0},
                "level": r("Level"), "status": r("WarningStatus"),
                "occurred_at": time, "key": r("KeyMap"), "title": s
            }
        },
        "WindowAggregate": {
            "type": "object",
            "required": ["rule_id", "key", "count", "window"],
            "properties": {
                "rule_id": s, "key": r("KeyMap"),
                "count": {"type": "integer", "minimum": 0},
                "sum": {"type": "integer", "description": "minor units; absent when the rule sums nothing"},
                "window": r("TimeRange")
            }
        },
        "OfficialView": {
            "type": "object",
            "required": ["official_id", "region", "org_unit", "risk", "open_warnings", "windows"],
            "properties": {
                "official_id": s, "region": s, "org_unit": s,
                "risk": r("Risk"),
                "open_warnings": {"type": "array", "items": r("WarningSummary")},
                "windows": {"type": "array", "items": r("WindowAggregate")}
            }
        },
        "Evidence": {
            "type": "object",
            "required": ["event_ids", "total"],
            "properties": {
                "event_ids": {"type": "array", "items": s},
                "total": {"type": "integer", "minimum": 0},
                "events": {"type": "array", "items": r("EvidenceEvent"),
                    "description": "compact copies of the listed events (absent when the pack keeps none)"}
            }
        },
        "EvidenceEvent": {
            "type": "object",
            "required": ["event_id", "kind", "occurred_at"],
            "properties": {
                "event_id": s, "kind": s, "occurred_at": time,
                "amount_cents": {"type": "integer", "description": "minor units (fen)"},
                "counterparty": s,
                "attributes": {"type": "object", "description": "the attributes the rule reads"}
            }
        },
        "HistoryEntry": {
            "type": "object",
            "required": ["status", "handler", "note", "at"],
            "properties": {"status": r("WarningStatus"), "handler": opt_s, "note": opt_s, "at": time}
        },
        "WarningView": {
            "type": "object",
            "required": [
                "warning_id", "rule_id", "rule_version", "official_id", "key", "level",
                "trigger_event_id", "occurred_at", "window", "measures", "evidence", "title",
                "detected_at", "status", "history", "case_id", "escalated", "region", "org_unit"
            ],
            "properties": {
                "warning_id": s, "rule_id": s,
                "rule_version": {"type": "integer", "minimum": 0},
                "official_id": s, "key": r("KeyMap"), "level": r("Level"),
                "trigger_event_id": s, "occurred_at": time, "window": r("TimeRange"),
                "measures": {"type": "object", "additionalProperties": {"type": "number"}},
                "conditions": {"type": "array", "items": r("Condition"), "description": "the conditions of the level that fired, with the measured values"},
                "evidence": r("Evidence"), "title": s, "detected_at": time,
                "status": r("WarningStatus"),
                "history": {"type": "array", "items": r("HistoryEntry")},
                "case_id": opt_s, "escalated": {"type": "boolean"},
                "region": s, "org_unit": s
            }
        },
        "RuleInfo": {
            "type": "object",
            "required": ["rule_id", "version", "title", "description", "window"],
            "properties": {
                "rule_id": s, "version": {"type": "integer", "minimum": 0},
                "title": opt_s, "description": opt_s,
                "window": {"type": "string", "description": "as written in the pack, e.g. 30d"},
                "field": {"type": "string", "description": "the field sum/avg/min/max read; amount_cents means money in minor units"}
            }
        },
        "RulesView": {
            "type": "object",
            "required": ["pack", "version", "rules"],
            "properties": {"pack": s, "version": s, "rules": {"type": "array", "items": r("RuleInfo")}}
        }
    });
    base.as_object_mut()
        .unwrap()
        .append(extra.as_object_mut().unwrap());
    base
}
