//! The OpenAPI 3.1 document for `/api/v1`, served at `/api/v1/openapi.json`. A unit test
//! checks that every API route registered in `routes.rs` is described here.

use actix_web::HttpResponse;
use serde_json::{json, Value};
use std::sync::OnceLock;

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn ok(schema: &str, description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

fn body(schema: &str) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

fn id_param(name: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": "integer", "format": "int64" } })
}

fn op(summary: &str, responses: Value) -> Value {
    let mut r = responses;
    let m = r.as_object_mut().expect("responses is an object");
    m.insert(
        "401".into(),
        error_response("Missing, unknown or revoked token (`unauthorized`)"),
    );
    m.insert(
        "403".into(),
        error_response("The token may not do this (`forbidden`)"),
    );
    json!({ "summary": summary, "responses": r })
}

pub fn build() -> Value {
    let mut get_tenant = op(
        "The token's tenant",
        json!({ "200": ok("Tenant", "The tenant") }),
    );
    get_tenant["operationId"] = json!("getTenant");
    let mut put_tenant = op(
        "Replace the tenant's settings (omitted secrets are kept)",
        json!({
            "200": ok("Tenant", "The updated tenant"),
            "409": error_response("Slug already taken (`conflict`)"),
            "422": error_response("Invalid fields (`invalid`, see `details`)"),
        }),
    );
    put_tenant["requestBody"] = body("TenantInput");
    let mut post_store = op(
        "Create a store",
        json!({
            "201": ok("Store", "The new store"),
            "409": error_response("A store with this name exists (`conflict`)"),
            "422": error_response("Invalid fields"),
        }),
    );
    post_store["requestBody"] = body("StoreInput");
    let mut get_store = op(
        "One store",
        json!({ "200": ok("Store", "The store"), "404": error_response("No such store in this tenant (`not_found`)") }),
    );
    get_store["parameters"] = json!([id_param("store_id")]);
    let mut put_store = op(
        "Rename or move a store",
        json!({
            "200": ok("Store", "The updated store"),
            "404": error_response("No such store in this tenant"),
            "409": error_response("Name taken"),
            "422": error_response("Invalid fields"),
        }),
    );
    put_store["parameters"] = json!([id_param("store_id")]);
    put_store["requestBody"] = body("StoreInput");
    let mut get_user = op(
        "One user of the tenant",
        json!({ "200": ok("User", "The user"), "404": error_response("No such user in this tenant") }),
    );
    get_user["parameters"] = json!([id_param("user_id")]);
    let mut post_inv = op(
        "Invite a user (the link is emailed)",
        json!({
            "201": ok("Invitation", "The invitation"),
            "422": error_response("Invalid email, role or stores"),
        }),
    );
    post_inv["requestBody"] = body("InvitationInput");

    let mut followers_list = op(
        "Followers, newest first, 50 a page",
        json!({ "200": { "description": "`followers` and `next_before` (pass as `before` for the next page)" } }),
    );
    followers_list["parameters"] = json!([
        { "name": "subscribed", "in": "query", "schema": { "type": "string", "enum": ["yes", "no"] } },
        { "name": "q", "in": "query", "description": "Exact OpenID, or a prefix of name, phone, email, remark", "schema": { "type": "string" } },
        { "name": "qr_scene", "in": "query", "schema": { "type": "string" } },
        { "name": "active_days", "in": "query", "schema": { "type": "integer" } },
        { "name": "before", "in": "query", "schema": { "type": "integer" } }
    ]);
    let followers_summary = op(
        "Followers at a glance: `total`, `following`, `active_7_days` and `new_7_days` (each `count`, and `more` when counting stopped at 10,000), `since` (the first of the 7 days, UTC)",
        json!({ "200": { "description": "The counts" } }),
    );
    let mut follower_get = op(
        "One follower",
        json!({ "200": { "description": "The follower" }, "404": error_response("No such follower in this tenant") }),
    );
    follower_get["parameters"] = json!([id_param("follower_id")]);
    let mut follower_put = op(
        "Set the merchant-filled profile (name, phone, email, birthday YYYY-MM-DD, remark)",
        json!({ "200": { "description": "The follower" }, "404": error_response("No such follower"), "422": error_response("Invalid fields") }),
    );
    follower_put["parameters"] = json!([id_param("follower_id")]);
    let mut notes_get = op(
        "The follower's notes, newest first",
        json!({ "200": { "description": "`notes`" }, "404": error_response("No such follower") }),
    );
    notes_get["parameters"] = json!([id_param("follower_id")]);
    let mut notes_post = op(
        "Add a note to a follower",
        json!({ "201": { "description": "The note" }, "404": error_response("No such follower"), "422": error_response("Empty or longer than 2,000 characters") }),
    );
    notes_post["parameters"] = json!([id_param("follower_id")]);
    notes_post["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["body"], "properties": { "body": { "type": "string", "maxLength": 2000 } } } } } });
    let rules_list = op(
        "Auto-reply rules",
        json!({ "200": { "description": "`rules`" } }),
    );
    let mut rules_post = op(
        "Add an auto-reply rule",
        json!({ "201": { "description": "The rule" }, "422": error_response("Invalid trigger or reply") }),
    );
    rules_post["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["trigger_kind"], "properties": {
        "trigger_kind": { "type": "string", "enum": ["keyword_exact", "keyword_contains", "keyword_regex", "subscribe", "click", "default"] },
        "trigger_value": { "type": "string" }, "reply_text": { "type": "string", "maxLength": 2048, "description": "Shorthand for one text message" },
        "messages": { "type": "array", "maxItems": 5, "description": "The first is the passive reply, the others go as customer-service messages", "items": { "type": "object", "properties": { "type": { "type": "string", "enum": ["text", "image", "news"] } } } },
        "window": { "type": "object", "description": "Active window in local time", "properties": { "days": { "type": "integer", "description": "bit 0 Monday … bit 6 Sunday" }, "start": { "type": "integer", "description": "minutes after midnight" }, "end": { "type": "integer" }, "from": { "type": "string", "format": "date" }, "to": { "type": "string", "format": "date" } } },
        "priority": { "type": "integer" } } } } } });
    let mut rules_delete = op(
        "Delete an auto-reply rule",
        json!({ "204": { "description": "Deleted" }, "404": error_response("No such rule") }),
    );
    rules_delete["parameters"] = json!([id_param("rule_id")]);

    let tags_list = op(
        "Tags with their follower counts",
        json!({ "200": { "description": "`tags`" } }),
    );
    let mut tags_post = op(
        "Create a tag (1 to 30 bytes, WeChat's limit)",
        json!({ "201": { "description": "The tag" }, "409": error_response("A tag with this name exists"), "422": error_response("Invalid name") }),
    );
    tags_post["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["name"], "properties": { "name": { "type": "string" } } } } } });
    let mut tags_delete = op(
        "Delete a tag from every follower",
        json!({ "204": { "description": "Deleted" }, "404": error_response("No such tag") }),
    );
    tags_delete["parameters"] = json!([id_param("tag_id")]);
    let mut tags_apply = op(
        "Put the tag on, or take it off, followers (other tenants' ids are ignored)",
        json!({ "200": { "description": "`changed`: followers changed" }, "404": error_response("No such tag"), "422": error_response("Invalid action") }),
    );
    tags_apply["parameters"] = json!([id_param("tag_id")]);
    tags_apply["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["action"], "description": "Either follower_ids or a filter (every follower it matches)", "properties": {
        "follower_ids": { "type": "array", "items": { "type": "integer" }, "maxItems": 10000 },
        "filter": super::openapi_crm::filter_schema(),
        "action": { "type": "string", "enum": ["add", "remove"] } } } } } });

    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Patron API",
            "version": "1",
            "description": "Per-tenant API of Patron. Authenticate with a tenant API token (created under Settings → API tokens) as `Authorization: Bearer pat_…`. Errors are `{\"error\":{\"code\",\"message\",\"details\"?}}` with stable codes: unauthorized, forbidden, not_found, conflict, invalid, bad_request, internal."
        },
        "servers": [{ "url": "/api/v1" }],
        "security": [{ "bearer": [] }],
        "paths": {
            "/tenant": { "get": get_tenant, "put": put_tenant },
            "/stores": {
                "get": op("List the tenant's stores", json!({ "200": { "description": "Stores", "content": { "application/json": { "schema": { "type": "object", "properties": { "stores": { "type": "array", "items": { "$ref": "#/components/schemas/Store" } } } } } } } })),
                "post": post_store
            },
            "/stores/{store_id}": { "get": get_store, "put": put_store },
            "/users": {
                "get": op("List the tenant's users and roles", json!({ "200": { "description": "Users", "content": { "application/json": { "schema": { "type": "object", "properties": { "users": { "type": "array", "items": { "$ref": "#/components/schemas/User" } } } } } } } }))
            },
            "/users/{user_id}": { "get": get_user },
            "/invitations": { "post": post_inv },
            "/followers": { "get": followers_list },
            "/followers/summary": { "get": followers_summary },
            "/followers/{follower_id}": { "get": follower_get, "put": follower_put },
            "/followers/{follower_id}/notes": { "get": notes_get, "post": notes_post },
            "/reply-rules": { "get": rules_list, "post": rules_post },
            "/reply-rules/{rule_id}": { "delete": rules_delete },
            "/tags": { "get": tags_list, "post": tags_post },
            "/tags/{tag_id}": { "delete": tags_delete },
            "/tags/{tag_id}/followers": { "post": tags_apply }
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "object", "required": ["code", "message"], "properties": {
                    "code": { "type": "string", "enum": ["unauthorized", "forbidden", "not_found", "method_not_allowed", "conflict", "invalid", "bad_request", "too_large", "too_many_attempts", "wechat", "internal"] },
                    "message": { "type": "string" },
                    "details": { "type": "array", "items": { "type": "object", "properties": { "field": { "type": "string" }, "code": { "type": "string" } } } }
                } } } },
                "Tenant": { "type": "object", "properties": {
                    "id": { "type": "integer" }, "name": { "type": "string" }, "slug": { "type": "string" }, "time_zone": { "type": "string" },
                    "wechat": { "type": "object", "properties": {
                        "appid": { "type": ["string", "null"] }, "original_id": { "type": ["string", "null"] },
                        "message_mode": { "type": "string", "enum": ["plain", "compatible", "safe"] },
                        "account_kind": { "type": "string", "enum": ["subscription", "verified_subscription", "service"] },
                        "api_base": { "type": "string" },
                        "secrets_set": { "type": "object", "properties": { "token": { "type": "boolean" }, "aes_key": { "type": "boolean" }, "prev_aes_key": { "type": "boolean" }, "app_secret": { "type": "boolean" } } }
                    } },
                    "created_at": { "type": "string", "format": "date-time" }, "updated_at": { "type": "string", "format": "date-time" }
                } },
                "TenantInput": { "type": "object", "required": ["name", "slug"], "properties": {
                    "name": { "type": "string" }, "slug": { "type": "string" }, "time_zone": { "type": "string", "default": "Asia/Shanghai" },
                    "wx_appid": { "type": "string" }, "wx_original_id": { "type": "string" }, "wx_token": { "type": "string" },
                    "wx_aes_key": { "type": "string", "description": "A new key moves the current one to 'previous' for rotation" },
                    "wx_app_secret": { "type": "string" }, "wx_message_mode": { "type": "string" }, "wx_account_kind": { "type": "string" }, "wx_api_base": { "type": "string" }
                } },
                "Store": { "type": "object", "properties": { "id": { "type": "integer" }, "tenant_id": { "type": "integer" }, "name": { "type": "string" }, "address": { "type": "string" }, "created_at": { "type": "string" } } },
                "StoreInput": { "type": "object", "required": ["name"], "properties": { "name": { "type": "string" }, "address": { "type": "string" } } },
                "User": { "type": "object", "properties": { "id": { "type": "integer" }, "email": { "type": "string" }, "name": { "type": "string" }, "role": { "type": "string" }, "store_ids": { "type": "array", "items": { "type": "integer" } } } },
                "InvitationInput": { "type": "object", "required": ["email", "role"], "properties": {
                    "email": { "type": "string" }, "role": { "type": "string", "enum": ["merchant_admin", "marketer", "cashier"] },
                    "store_ids": { "type": "array", "items": { "type": "integer" }, "description": "Required for cashiers" }
                } },
                "Invitation": { "type": "object", "properties": { "id": { "type": "integer" }, "email": { "type": "string" }, "role": { "type": "string" }, "expires_at": { "type": "string" }, "mail_sent": { "type": "boolean" } } }
            }
        }
    });
    if let Some(paths) = doc["paths"].as_object_mut() {
        paths.extend(super::openapi_crm::paths());
        paths.extend(super::openapi_crm::loyalty_paths());
        // What any operation can answer, whatever it does (see `api::ApiError` and the
        // extractor error handlers in `configure`).
        for item in paths.values_mut().filter_map(Value::as_object_mut) {
            for operation in item.values_mut() {
                let Some(responses) = operation["responses"].as_object_mut() else {
                    continue;
                };
                for (status, what) in GENERIC_RESPONSES {
                    responses
                        .entry(status)
                        .or_insert_with(|| error_response(what));
                }
            }
        }
    }
    doc
}

/// Answers every operation can give besides its own.
const GENERIC_RESPONSES: [(&str, &str); 7] = [
    ("400", "The request could not be read: a body that is not the JSON asked for, a query parameter of the wrong type (`bad_request`)"),
    ("401", "Missing, unknown or revoked token (`unauthorized`)"),
    ("403", "The token may not do this (`forbidden`)"),
    ("404", "A path segment names nothing of this tenant, or cannot name anything (`not_found`)"),
    ("413", "The body is larger than allowed (`too_large`)"),
    ("422", "Invalid fields (`invalid`, see `details`)"),
    ("429", "Too many failed attempts from this token or address (`too_many_attempts`)"),
];

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
        for r in ROUTES.iter().filter(|r| r.access == Access::Token) {
            let path = r.path.strip_prefix("/api/v1").unwrap();
            let op = &doc["paths"][path][r.method];
            assert!(
                op.is_object(),
                "{} {} is missing from the OpenAPI document",
                r.method,
                r.path
            );
        }
    }
}
