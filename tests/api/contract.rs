//! The OpenAPI document as a contract: every JSON answer a test reads (through
//! `helpers::json`) must be an answer the document describes for its path and
//! status, and its body must validate against the documented schema.
//!
//! The request method is not known here (a `reqwest::Response` does not carry
//! it), so an answer is matched against every operation of its path: the
//! status must be documented by one of them and the body valid for one of
//! those. The schemas are checked stricter than the document states them
//! (`additionalProperties: false` on every object, which clients need not
//! assume): a field the server sends but the document does not name fails.

use serde_json::{Value, json};
use std::sync::LazyLock;

/// The document as JSON, loaded once per test process.
static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
    let text = qrlogin::http::openapi_document()
        .to_json()
        .expect("the OpenAPI document serialises");
    serde_json::from_str(&text).expect("the OpenAPI document is JSON")
});

/// `components`, strict, for the root schema every validation compiles.
static COMPONENTS: LazyLock<Value> = LazyLock::new(|| {
    let mut components = DOCUMENT["components"].clone();
    forbid_undocumented_fields(&mut components);
    components
});

/// The document (the one the server serves, as
/// `openapi::the_document_is_served_as_openapi_3_1` checks).
pub fn document() -> &'static Value {
    &DOCUMENT
}

/// The documented path templates `path` matches, e.g. `/api/qr/{id}/status`
/// for `/api/qr/abc/status`. A `{param}` segment matches one non-empty segment.
pub fn templates_matching(path: &str) -> Vec<&'static str> {
    let segments: Vec<&str> = path.split('/').collect();
    DOCUMENT["paths"]
        .as_object()
        .expect("the document has paths")
        .keys()
        .map(String::as_str)
        .filter(|template| {
            let pattern: Vec<&str> = template.split('/').collect();
            pattern.len() == segments.len()
                && pattern.iter().zip(&segments).all(|(p, s)| {
                    p == s || (p.starts_with('{') && p.ends_with('}') && !s.is_empty())
                })
        })
        .collect()
}

/// Fails the test unless the JSON `body` answered on `path` with `status`
/// is what the document says that path answers.
pub fn check(path: &str, status: u16, body: &Value) {
    let templates = templates_matching(path);
    if templates.is_empty() {
        // Not an API path: only the router's own refusals answer JSON there.
        assert!(
            matches!(status, 404 | 405),
            "JSON answer {status} on {path}, which the OpenAPI document does not describe: {body}"
        );
        validate(
            path,
            status,
            &json!({"$ref": "#/components/schemas/ErrorBody"}),
            body,
        );
        return;
    }
    let mut schemas = Vec::new();
    for template in &templates {
        let operations = DOCUMENT["paths"][template]
            .as_object()
            .expect("a path item is an object");
        for (method, operation) in operations {
            let Some(response) = operation["responses"].get(status.to_string()) else {
                continue;
            };
            let schema = response["content"]["application/json"]["schema"].clone();
            assert!(
                !schema.is_null(),
                "{} {template} documents {status} without a JSON body, but the server sent \
                 one: {body}",
                method.to_uppercase()
            );
            schemas.push(schema);
        }
    }
    if schemas.is_empty() && status == 405 {
        // The router's answer to a method the path does not document: OpenAPI
        // describes it by omission. The body is still an API error.
        let body_error = body["error"].as_str();
        assert_eq!(body_error, Some("method_not_allowed"), "on {path}: {body}");
        schemas.push(json!({"$ref": "#/components/schemas/ErrorBody"}));
    }
    assert!(
        !schemas.is_empty(),
        "{path} (documented as {}) answered {status}, a status the OpenAPI document does not \
         list for it: {body}",
        templates.join(", ")
    );
    // With several methods on one path, the body must fit one of their answers.
    let failures: Vec<String> = schemas
        .iter()
        .filter_map(|schema| errors(schema, body))
        .collect();
    assert!(
        failures.len() < schemas.len(),
        "{status} answer on {path} does not match the OpenAPI document: {body}\n{}",
        failures.join("\n")
    );
}

fn validate(path: &str, status: u16, schema: &Value, body: &Value) {
    if let Some(failure) = errors(schema, body) {
        panic!("{status} answer on {path} does not match the OpenAPI document: {body}\n{failure}");
    }
}

/// Why `body` does not validate against `schema` (Draft 2020-12, with
/// `#/components/...` references resolved against the document), if it does not.
pub fn errors(schema: &Value, body: &Value) -> Option<String> {
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": *COMPONENTS,
        "allOf": [schema],
    });
    let validator = jsonschema::draft202012::new(&root)
        .unwrap_or_else(|e| panic!("the OpenAPI schema {schema} does not compile: {e}"));
    let messages: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("  at {:?}: {e}", e.instance_path().to_string()))
        .collect();
    (!messages.is_empty()).then(|| messages.join("\n"))
}

/// Adds `additionalProperties: false` to every object schema that lists its
/// properties and says nothing about others.
fn forbid_undocumented_fields(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            map.values_mut().for_each(forbid_undocumented_fields);
        }
        Value::Array(items) => items.iter_mut().for_each(forbid_undocumented_fields),
        _ => {}
    }
}

/// The documented shape of each event `path` streams with `status`: the
/// `x-itemSchema` of its `text/event-stream` answer (OpenAPI 3.2's
/// `itemSchema`, for this 3.1 document). Fails the test unless exactly
/// one operation of the path documents a stream for that status.
fn event_schema(path: &str, status: u16) -> &'static Value {
    let streams: Vec<&Value> = templates_matching(path)
        .into_iter()
        .flat_map(|template| {
            DOCUMENT["paths"][template]
                .as_object()
                .expect("a path item is an object")
                .values()
        })
        .filter_map(|operation| {
            operation["responses"]
                .get(status.to_string())?
                .get("content")?
                .get("text/event-stream")
        })
        .collect();
    let [stream] = streams[..] else {
        panic!("{path} streamed events with {status}, but the OpenAPI document does not say so")
    };
    let item = &stream["x-itemSchema"];
    assert!(item.is_object(), "{path} {status}: no x-itemSchema");
    item
}

/// Fails the test unless the event (`id`, `data`) streamed on `path` with
/// `status` is what the document describes: the event against its item
/// schema, and its data, parsed as the `contentMediaType` it names,
/// against the `contentSchema`.
pub fn check_event(path: &str, status: u16, id: Option<&str>, data: &str) {
    let item = event_schema(path, status);
    let mut event = json!({ "data": data });
    if let Some(id) = id {
        event["id"] = id.into();
    }
    validate(path, status, item, &event);
    let data_schema = &item["properties"]["data"];
    assert_eq!(data_schema["contentMediaType"], "application/json");
    let body: Value = serde_json::from_str(data)
        .unwrap_or_else(|_| panic!("event data on {path} is not JSON: {data:?}"));
    validate(path, status, &data_schema["contentSchema"], &body);
}
