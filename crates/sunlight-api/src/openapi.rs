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
                    "description": "HS256 or RS256 JWT. Required: sub, exp. Optional: nbf, iss, aud (as configured), regions (\"*\" = all), org_units, sensitive."
                }
            },
            "responses": {
                "Unauthorized": {
                    "description": "Missing or invalid bearer token; WWW-Authenticate: Bearer error=\"invalid_token\".",
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
    match endpoint {
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
    json!({
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
                "code": {"type": "string", "enum": ["green", "yellow", "red"]},
                "score": {"type": "number"},
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
                "total": {"type": "integer", "minimum": 0}
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
                "window": {"type": "string", "description": "as written in the pack, e.g. 30d"}
            }
        },
        "RulesView": {
            "type": "object",
            "required": ["pack", "version", "rules"],
            "properties": {"pack": s, "version": s, "rules": {"type": "array", "items": r("RuleInfo")}}
        }
    })
}
