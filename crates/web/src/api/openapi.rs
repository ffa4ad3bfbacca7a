//! The OpenAPI 3.1 document for `/api/v1`, served at `/api/v1/openapi.json`.
//!
//! It is derived, not written: each handler's `#[utoipa::path]` names its path, parameters,
//! body and answers by their Rust types, and those types (`ToSchema` beside their serde
//! attributes, in whichever crate owns them) give the schemas, so the document says what
//! the code reads and writes. [`build`] adds what holds for every operation (the bearer
//! scheme, the answers any request can get). A unit test checks that every API route of
//! `routes.rs` is described; the integration test `api_contract` checks real answers of
//! every route against their schemas, and CI runs schemathesis against the served document.

use super::{
    attributes, broadcasts, coupons, followers, imports, loyalty, replies, stores, tags, tenants,
};
use super::{payments, reconcile, users, wechat, ErrorBody};
use actix_web::HttpResponse;
use serde_json::{json, Value};
use std::sync::OnceLock;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Patron API",
        version = "1",
        description = "Per-tenant API of Patron. Authenticate with a tenant API token (created under Settings → API tokens) as `Authorization: Bearer pat_…`. Errors are `{\"error\":{\"code\",\"message\",\"details\"?}}` with stable codes: unauthorized, forbidden, not_found, method_not_allowed, conflict, invalid, bad_request, too_large, too_many_attempts, wechat, internal. Timestamps without an offset are UTC.",
    ),
    servers((url = "/api/v1")),
    security(("bearer" = [])),
    components(schemas(ErrorBody)),
    paths(
        tenants::show, tenants::update,
        stores::list, stores::create, stores::show, stores::update,
        users::list, users::show, users::invite,
        followers::list, followers::summary, followers::show, followers::update,
        followers::messages, followers::notes, followers::add_note,
        replies::list, replies::create, replies::delete,
        tags::list, tags::create, tags::delete, tags::apply,
        attributes::list, attributes::create, attributes::delete,
        attributes::values, attributes::set_values,
        attributes::segments_list, attributes::segment_create, attributes::segment_delete,
        attributes::segment_followers,
        imports::create, imports::show, imports::confirm,
        wechat::qr_list, wechat::qr_create, wechat::qr_show, wechat::qr_update,
        wechat::menu_show, wechat::menu_put, wechat::tags_sync, wechat::send,
        loyalty::program, loyalty::save_program, loyalty::balance, loyalty::post,
        loyalty::cards, loyalty::create_card, loyalty::stamp,
        coupons::list, coupons::create, coupons::show, coupons::issue, coupons::bulk,
        coupons::validate, coupons::redeem, coupons::void,
        broadcasts::list, broadcasts::create, broadcasts::show, broadcasts::schedule,
        broadcasts::cancel, broadcasts::slots,
        payments::settings, payments::put_settings, payments::list, payments::show,
        reconcile::create, reconcile::show_bill, reconcile::runs, reconcile::show_run,
        reconcile::exceptions, reconcile::resolve,
    )
)]
struct ApiDoc;

/// Answers every operation can give besides its own (see `api::ApiError` and the
/// extractor error handlers in `configure`).
const GENERIC_RESPONSES: [(&str, &str); 8] = [
    ("400", "The request could not be read: a body that is not the JSON asked for, a query parameter of the wrong type (`bad_request`)"),
    ("401", "Missing, unknown or revoked token (`unauthorized`)"),
    ("403", "The token may not do this (`forbidden`)"),
    ("404", "A path segment names nothing of this tenant, or cannot name anything (`not_found`)"),
    ("413", "The body is larger than allowed (`too_large`)"),
    ("422", "Invalid fields (`invalid`, see `details`)"),
    ("429", "Too many failed attempts from this token or address (`too_many_attempts`)"),
    ("500", "Something broke on the server; the log has it under the request id (`internal`)"),
];

/// The document as JSON.
pub fn build() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    doc["components"]["securitySchemes"] =
        json!({ "bearer": { "type": "http", "scheme": "bearer" } });
    let error =
        json!({ "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } });
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut().filter_map(Value::as_object_mut) {
            for operation in item.values_mut() {
                let Some(responses) = operation["responses"].as_object_mut() else {
                    continue;
                };
                for (status, what) in GENERIC_RESPONSES {
                    responses
                        .entry(status)
                        .or_insert_with(|| json!({ "description": what, "content": error }));
                }
            }
        }
    }
    naive_timestamps(&mut doc);
    doc
}

/// Timestamps are UTC without an offset (`2026-12-04T10:30:00` or with a fraction), which
/// is not RFC 3339's `date-time`: say what they are instead of claiming that format.
fn naive_timestamps(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.get("format").and_then(Value::as_str) == Some("date-time")
                && !m.contains_key("x-offset")
            {
                m.remove("format");
                m.insert(
                    "pattern".into(),
                    json!("^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z?$"),
                );
            }
            m.values_mut().for_each(naive_timestamps);
        }
        Value::Array(a) => a.iter_mut().for_each(naive_timestamps),
        _ => {}
    }
}

pub async fn document() -> HttpResponse {
    static DOC: OnceLock<String> = OnceLock::new();
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOC.get_or_init(|| build().to_string()).clone())
}

#[cfg(test)]
mod tests {
    use crate::routes::{Access, ROUTES};

    #[test]
    fn every_api_route_is_documented() {
        let doc = super::build();
        let mut ids = std::collections::HashSet::new();
        for r in ROUTES.iter().filter(|r| r.access == Access::Token) {
            let path = r.path.strip_prefix("/api/v1").unwrap();
            let op = &doc["paths"][path][r.method];
            assert!(
                op.is_object(),
                "{} {} is missing from the OpenAPI document",
                r.method,
                r.path
            );
            let id = op["operationId"]
                .as_str()
                .expect("every operation has an id");
            assert!(ids.insert(id.to_string()), "operationId {id} is used twice");
        }
    }

    #[test]
    fn every_answer_has_a_schema_except_no_content() {
        let doc = super::build();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                for (status, r) in op["responses"].as_object().unwrap() {
                    let has = r["content"]["application/json"]["schema"].is_object();
                    assert_eq!(
                        has,
                        status != "204",
                        "{method} {path} {status}: a schema for every answer with a body"
                    );
                }
            }
        }
    }
}
