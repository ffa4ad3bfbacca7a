#!/usr/bin/env bash
# The JSON API against its own OpenAPI document: schemathesis (PyPI) generates requests
# for every operation from /api/v1/openapi.json and checks every answer: no 5xx, the
# status codes, content types, headers and bodies the document declares, 405 for
# methods it does not. Runs a real `patron serve` on SQLite in a temp dir with a tenant
# that has a store, a tag, an attribute, a reply rule and a campaign, and its API token.
#   PATRON_BIN   the binary (default target/debug/patron)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
BIN="${PATRON_BIN:-target/debug/patron}"
WORK="$(mktemp -d)"
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:${PORT}"
cleanup() { [[ -n "${PID:-}" ]] && kill "$PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
P() { env -u DATABASE_URL "$BIN" --data-dir "$WORK/data" "$@"; }

P user create --email admin@example.test --name Admin --agency-name "Contract agency" >/dev/null
P tenant create --agency 1 --name "Contract shop" --slug contract >/dev/null
TOKEN="$(P token create --tenant contract --name schemathesis | tail -n 1)"
# Started directly (not through P) so that $! is the server itself, killed on exit.
env -u DATABASE_URL "$BIN" --data-dir "$WORK/data" --bind "127.0.0.1:${PORT}" serve >"$WORK/serve.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "$BASE/readyz" >/dev/null

api() { curl -fsS -X "$1" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$BASE/api/v1$2" -d "$3" >/dev/null; }
api POST /stores '{"name":"Main street","address":"1 Main street"}'
api POST /tags '{"name":"VIP"}'
api POST /attributes '{"key":"level","label":"Level","kind":"number"}'
api POST /reply-rules '{"trigger_kind":"default","reply_text":"Thanks!"}'
api POST /campaigns '{"name":"Ten off","benefit":{"kind":"amount_off","fen":1000},"validity":{"kind":"relative","days":30},"min_spend_fen":0,"status":"active"}'

schemathesis run "$BASE/api/v1/openapi.json" \
    --header "Authorization: Bearer $TOKEN" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,unsupported_method \
    --max-examples "${SCHEMATHESIS_EXAMPLES:-25}" \
    --seed "${SCHEMATHESIS_SEED:-20261204}" \
    --no-color
