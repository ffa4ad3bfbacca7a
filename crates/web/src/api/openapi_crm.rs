//! The OpenAPI paths of the CRM's attributes, segments and imports (merged into the
//! document by `openapi::build`).

use serde_json::{json, Map, Value};

fn err(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn id(name: &str) -> Value {
    json!({ "name": name, "in": "path", "required": true, "schema": { "type": "integer", "format": "int64" } })
}

fn op(summary: &str, responses: Value, params: Value, body: Option<Value>) -> Value {
    let mut r = responses;
    let m = r.as_object_mut().expect("responses is an object");
    m.insert(
        "401".into(),
        err("Missing, unknown or revoked token (`unauthorized`)"),
    );
    m.insert("403".into(), err("The token may not do this (`forbidden`)"));
    let mut o = json!({ "summary": summary, "responses": r, "parameters": params });
    if let Some(b) = body {
        o["requestBody"] = b;
    }
    o
}

fn json_body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

/// The filter of the followers list, as an object (segments, tagging a whole result).
pub fn filter_schema() -> Value {
    json!({ "type": "object", "properties": {
        "subscribed": { "type": "string", "enum": ["", "yes", "no"], "description": "yes: following now; no: unfollowed; empty or absent: either" },
        "q": { "type": "string" }, "qr_scene": { "type": "string" },
        "active_days": { "type": "integer", "minimum": 1, "maximum": 36500 }, "tag": { "type": "integer" },
        "attr": { "type": "integer", "description": "An attribute id" },
        "attr_op": { "type": "string", "enum": ["eq", "lt", "gt", "set", "unset"] },
        "attr_value": { "type": "string" },
        "created_from": { "type": "string", "format": "date" }, "created_to": { "type": "string", "format": "date" }
    } })
}

pub fn paths() -> Map<String, Value> {
    let attribute = json!({ "type": "object", "required": ["key", "label", "kind"], "properties": {
        "key": { "type": "string", "pattern": "^[a-z][a-z0-9_]{0,31}$" }, "label": { "type": "string" },
        "kind": { "type": "string", "enum": ["text", "number", "date", "bool"] } } });
    let values = json!({ "type": "object", "properties": { "values": { "type": "object", "additionalProperties": { "type": "string" },
        "description": "key → value as text (numbers, YYYY-MM-DD dates, true/false); an empty string clears" } } });
    let mut p = Map::new();
    p.insert("/attributes".into(), json!({
        "get": op("The tenant's custom attributes", json!({ "200": { "description": "`attributes`" } }), json!([]), None),
        "post": op("Define a custom attribute", json!({ "201": { "description": "The attribute" }, "409": err("Key taken"), "422": err("Invalid key, label or kind") }), json!([]), Some(json_body(attribute))),
    }));
    p.insert("/attributes/{attribute_id}".into(), json!({
        "delete": op("Delete an attribute and every follower's value of it", json!({ "204": { "description": "Deleted" }, "404": err("No such attribute") }), json!([id("attribute_id")]), None),
    }));
    p.insert("/followers/{follower_id}/attributes".into(), json!({
        "get": op("A follower's attribute values (key → text)", json!({ "200": { "description": "`attributes`" }, "404": err("No such follower") }), json!([id("follower_id")]), None),
        "put": op("Set some of a follower's attribute values (all or nothing)", json!({ "200": { "description": "`attributes` after the change" }, "404": err("No such follower"), "422": err("Unknown key or a value that does not fit its kind") }), json!([id("follower_id")]), Some(json_body(values))),
    }));
    p.insert("/segments".into(), json!({
        "get": op("Saved segments", json!({ "200": { "description": "`segments` (each with its filter as a query string)" } }), json!([]), None),
        "post": op("Save a followers filter as a segment", json!({ "201": { "description": "The segment" }, "409": err("Name taken"), "422": err("Invalid name or filter") }), json!([]),
            Some(json_body(json!({ "type": "object", "required": ["name", "filter"], "properties": { "name": { "type": "string" }, "filter": filter_schema() } })))),
    }));
    p.insert("/segments/{segment_id}".into(), json!({
        "delete": op("Delete a segment (its followers are not changed)", json!({ "204": { "description": "Deleted" }, "404": err("No such segment") }), json!([id("segment_id")]), None),
    }));
    p.insert("/segments/{segment_id}/followers".into(), json!({
        "get": op("The segment's followers, evaluated now, 50 a page", json!({ "200": { "description": "`count`, `followers`, `next_before`" }, "404": err("No such segment") }),
            json!([id("segment_id"), { "name": "before", "in": "query", "schema": { "type": "integer" } }]), None),
    }));
    p.insert("/follower-imports".into(), json!({
        "post": op("Upload a followers CSV: checked at once, every bad row listed with its line; nothing changes until confirmed",
            json!({ "201": { "description": "The import: `status` is `checked` (can be confirmed) or `rejected` (`errors` lists the rows)" }, "413": err("Larger than 64 MiB"), "422": err("The file is refused as a whole (no openid column, unknown columns, not UTF-8, not CSV, empty)") }),
            json!([]), Some(json!({ "required": true, "content": { "text/csv": { "schema": { "type": "string" } } } }))),
    }));
    p.insert("/follower-imports/{import_id}".into(), json!({
        "get": op("An import, with its errors and progress", json!({ "200": { "description": "The import" }, "404": err("No such import") }), json!([id("import_id")]), None),
    }));
    p.insert("/follower-imports/{import_id}/confirm".into(), json!({
        "post": op("Apply a checked import (one transaction, by a job)", json!({ "202": { "description": "Queued" }, "404": err("No such import"), "409": err("Rejected or already applied") }), json!([id("import_id")]), None),
    }));
    let content = json!({ "type": "object", "required": ["type"], "properties": {
        "type": { "type": "string", "enum": ["text", "image", "news"] }, "text": { "type": "string" }, "media_id": { "type": "string" },
        "articles": { "type": "array", "maxItems": 8, "items": { "type": "object", "required": ["title", "url"], "properties": {
            "title": { "type": "string" }, "description": { "type": "string" }, "url": { "type": "string" }, "pic_url": { "type": "string" } } } } } });
    p.insert("/qr-codes".into(), json!({
        "get": op("Parametric QR codes with their scan and follow counts", json!({ "200": { "description": "`qr_codes`" } }), json!([]), None),
        "post": op("Create a QR code through WeChat (temporary: `days` 1–30; permanent: at most 100,000)",
            json!({ "201": { "description": "The code (`url` is what the image encodes)" }, "422": err("Invalid or taken scene, bad days, permanent cap, API not configured"), "502": err("WeChat refused (`wechat`)") }),
            json!([]), Some(json_body(json!({ "type": "object", "required": ["scene"], "properties": {
                "scene": { "type": "string", "maxLength": 64 }, "label": { "type": "string" }, "permanent": { "type": "boolean" },
                "days": { "type": "integer", "minimum": 1, "maximum": 30 }, "tag_id": { "type": ["integer", "null"] } } })))),
    }));
    p.insert("/qr-codes/{qr_id}".into(), json!({
        "get": op("One QR code", json!({ "200": { "description": "The code" }, "404": err("No such code") }), json!([id("qr_id")]), None),
        "put": op("Set the tag a scan puts on the follower", json!({ "200": { "description": "The code" }, "404": err("No such code or tag") }), json!([id("qr_id")]),
            Some(json_body(json!({ "type": "object", "properties": { "tag_id": { "type": ["integer", "null"] } } })))),
    }));
    p.insert("/menu".into(), json!({
        "get": op("The custom menu as saved, and its last publication", json!({ "200": { "description": "`menu`, `published_at`, `publish_error`" } }), json!([]), None),
        "put": op("Save the custom menu (WeChat's menu JSON, checked against its limits); `publish` also sends it",
            json!({ "200": { "description": "The saved menu" }, "422": err("Breaks WeChat's limits or API not configured"), "502": err("WeChat refused (`wechat`)") }),
            json!([]), Some(json_body(json!({ "type": "object", "required": ["menu"], "properties": { "menu": { "type": "object" }, "publish": { "type": "boolean" } } })))),
    }));
    p.insert("/tags/sync".into(), json!({
        "post": op("Sync tags with WeChat (a job)", json!({ "202": { "description": "`job_id`" } }), json!([]), None),
    }));
    p.insert("/followers/{follower_id}/messages".into(), json!({
        "get": op("The follower's archived messages and our replies, newest first", json!({ "200": { "description": "`messages` and `next_before`" }, "404": err("No such follower") }),
            json!([id("follower_id"), { "name": "before", "in": "query", "schema": { "type": "integer" } }]), None),
        "post": op("Send customer-service messages (a job; within 48 h of the follower's last message)",
            json!({ "202": { "description": "`job_id`" }, "404": err("No such follower"), "422": err("Invalid messages") }),
            json!([id("follower_id")]), Some(json_body(json!({ "type": "object", "required": ["messages"], "properties": { "messages": { "type": "array", "maxItems": 5, "items": content } } })))),
    }));
    let code = json!({ "name": "code", "in": "path", "required": true, "description": "The coupon code, or the QR payload read from the coupon (URL-encoded)", "schema": { "type": "string" } });
    p.insert("/campaigns".into(), json!({
        "get": op("Coupon campaigns", json!({ "200": { "description": "`campaigns`" } }), json!([]), None),
        "post": op("Create a campaign (benefit: amount_off {fen} | percent_off {percent, cap_fen} | gift {item} | exchange {item}; validity: absolute {from, to} | relative {days})",
            json!({ "201": { "description": "The campaign" }, "422": err("Invalid benefit, validity, limits, stores or prefix") }), json!([]),
            Some(json_body(json!({ "type": "object", "required": ["name", "benefit", "validity"], "properties": {
                "name": { "type": "string" }, "benefit": { "type": "object" }, "validity": { "type": "object" }, "min_spend_fen": { "type": "integer" },
                "total_supply": { "type": ["integer", "null"] }, "per_follower_limit": { "type": ["integer", "null"] }, "store_ids": { "type": ["array", "null"], "items": { "type": "integer" } },
                "terms": { "type": "string" }, "code_prefix": { "type": "string" }, "accepts_short_codes": { "type": "boolean", "description": "imported codes may be 4-7 characters (otherwise at least 8)" }, "status": { "type": "string", "enum": ["draft", "active"] } } })))),
    }));
    p.insert("/campaigns/{campaign_id}".into(), json!({
        "get": op("A campaign with issued / redeemed / expired counts and redemptions by store and cashier", json!({ "200": { "description": "The campaign and `stats`" }, "404": err("No such campaign") }), json!([id("campaign_id")]), None),
    }));
    p.insert("/campaigns/{campaign_id}/coupons".into(), json!({
        "post": op("Issue a coupon (to a follower, or unassigned); supply and per-follower limits hold under concurrency",
            json!({ "201": { "description": "The coupon" }, "404": err("No such campaign or follower"), "409": err("`campaign_not_active`, `supply_exhausted` or `follower_limit`") }),
            json!([id("campaign_id")]), Some(json_body(json!({ "type": "object", "properties": { "follower_id": { "type": ["integer", "null"] } } })))),
    }));
    p.insert("/campaigns/{campaign_id}/bulk".into(), json!({
        "post": op("Issue the campaign's coupon to every follower of a segment or tag (a job with progress; the supply and per-follower limits hold)",
            json!({ "202": { "description": "`job_id`" }, "404": err("No such campaign, segment or tag"), "409": err("`campaign_not_active`") }),
            json!([id("campaign_id")]), Some(json_body(json!({ "type": "object", "properties": { "segment_id": { "type": ["integer", "null"] }, "tag_id": { "type": ["integer", "null"] } } })))),
    }));
    p.insert("/coupons/{code}".into(), json!({
        "get": op("Validate a coupon at a store (forged QR payloads and typos are refused before any lookup)",
            json!({ "200": { "description": "`coupon`, `campaign`, `redeemable`, `refusal`" }, "404": err("Unknown code"), "422": err("`forged_qr` or `bad_check_character`") }),
            json!([code, { "name": "store_id", "in": "query", "schema": { "type": "integer" } }, { "name": "amount_fen", "in": "query", "schema": { "type": "integer" } }]), None),
    }));
    p.insert("/coupons/{code}/redeem".into(), json!({
        "post": op("Redeem exactly once; the same idempotency_key returns the first answer",
            json!({ "200": { "description": "`outcome: ok`" }, "409": { "description": "`outcome: already_redeemed` (where, by whom, when) or `refused` (the reason)" }, "404": err("Unknown code"), "422": err("Forged QR, typo, or unknown store") }),
            json!([code]), Some(json_body(json!({ "type": "object", "required": ["store_id"], "properties": {
                "store_id": { "type": "integer" }, "idempotency_key": { "type": "string" }, "order_ref": { "type": "string" }, "amount_fen": { "type": "integer" }, "device": { "type": "string" } } })))),
    }));
    p.insert("/coupons/{code}/void".into(), json!({
        "post": op("Void a redemption within 30 minutes, with a reason",
            json!({ "200": { "description": "The coupon, valid again" }, "404": err("Unknown code"), "409": err("`not_redeemed` or `void_window_passed`"), "422": err("No reason") }),
            json!([code]), Some(json_body(json!({ "type": "object", "required": ["store_id", "reason"], "properties": { "store_id": { "type": "integer" }, "reason": { "type": "string" } } })))),
    }));
    p
}

/// The points and stamps paths.
pub fn loyalty_paths() -> Map<String, Value> {
    let program = json!({ "type": "object", "required": ["subscribe_points", "checkin_keyword", "checkin_points", "checkin_reply", "checkin_again_reply", "points_per_yuan"], "properties": {
        "subscribe_points": { "type": "integer", "minimum": 0 }, "checkin_keyword": { "type": "string", "maxLength": 30 },
        "checkin_points": { "type": "integer", "minimum": 0 }, "checkin_reply": { "type": "string", "description": "Placeholders: {points}, {balance}, {link}" },
        "checkin_again_reply": { "type": "string" }, "points_per_yuan": { "type": "integer", "minimum": 0 },
        "expiry_days": { "type": ["integer", "null"], "minimum": 1, "maximum": 3650 } } });
    let post = json!({ "type": "object", "required": ["kind", "points"], "properties": {
        "kind": { "type": "string", "enum": ["earn", "spend", "adjust"] },
        "points": { "type": "integer", "description": "Positive for earn and spend; signed for adjust" },
        "reason": { "type": "string", "description": "Required for adjust" },
        "idempotency_key": { "type": "string", "maxLength": 100 } } });
    let card = json!({ "type": "object", "required": ["name", "stamps_required", "reward_campaign_id"], "properties": {
        "name": { "type": "string" }, "stamps_required": { "type": "integer", "minimum": 1, "maximum": 100 },
        "reward_campaign_id": { "type": "integer" }, "stamp_on_checkin": { "type": "boolean" }, "active": { "type": "boolean" } } });
    let stamp = json!({ "type": "object", "required": ["card_id"], "properties": {
        "card_id": { "type": "integer" }, "idempotency_key": { "type": "string" } } });
    let mut p = Map::new();
    p.insert("/loyalty/program".into(), json!({
        "get": op("The points program (null until set)", json!({ "200": { "description": "`program`" } }), json!([]), None),
        "put": op("Set the points program", json!({ "200": { "description": "`program`" }, "422": err("Invalid program") }), json!([]), Some(json_body(program))),
    }));
    p.insert("/followers/{follower_id}/points".into(), json!({
        "get": op("A follower's points balance, latest ledger entries and stamp cards", json!({ "200": { "description": "`balance`, `entries`, `stamp_cards`" }, "404": err("No such follower") }), json!([id("follower_id")]), None),
        "post": op("Post points (earn, spend, adjust); debits take the oldest-expiring points first", json!({
            "201": { "description": "`result: done`, `entry_id`, `balance`" }, "200": { "description": "`result: duplicate` (the key was used before; nothing changed)" },
            "404": err("No such follower"), "409": err("`insufficient`: the debit exceeds the balance; nothing changed"), "422": err("Invalid kind, points or reason") }),
            json!([id("follower_id")]), Some(json_body(post))),
    }));
    p.insert("/stamp-cards".into(), json!({
        "get": op("The stamp cards", json!({ "200": { "description": "`stamp_cards`" } }), json!([]), None),
        "post": op("Create a stamp card", json!({ "201": { "description": "The card" }, "422": err("Invalid card or unknown campaign") }), json!([]), Some(json_body(card))),
    }));
    p.insert("/followers/{follower_id}/stamps".into(), json!({
        "post": op("Give a stamp; a full card issues its reward coupon", json!({ "200": { "description": "`result: added` with `stamps`, `reward`; or `duplicate`, `inactive`" }, "404": err("No such follower or card") }),
            json!([id("follower_id")]), Some(json_body(stamp))),
    }));
    p
}
