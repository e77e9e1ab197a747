#!/usr/bin/env bash
# Fuzzes the EMR API described by openapi.yaml against a fresh rappel-dev: no server error, and
# every answer's status, content type and body as documented. EXAMPLES sets the cases per
# operation (default 30); the seed is fixed so a failure reproduces.
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${RAPPEL_DEV_BIN:-target/debug/rappel-dev}"
schemathesis="${SCHEMATHESIS:-target/python-tools/bin/schemathesis}"
[ -x "$bin" ] || cargo build -q --bin rappel-dev
data=$(mktemp -d)
RAPPEL_DEV_ADDR=127.0.0.1:0 RAPPEL_DEV_DATA="$data" RAPPEL_DEV_API_KEY=fuzz-key "$bin" >"$data/out" 2>"$data/err" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
  grep -q "listening on" "$data/out" 2>/dev/null && break
  sleep 0.1
done
url=$(grep -o 'http://[0-9.:]*' "$data/out" | head -1)
[ -n "$url" ] || { echo "rappel-dev did not start" >&2; cat "$data/err" >&2; exit 1; }

"$schemathesis" run openapi.yaml --url "$url" --header "Authorization: Bearer fuzz-key" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --max-examples "${EXAMPLES:-30}" --seed 1 --no-color
