#!/usr/bin/env bash
# Runs each cargo-fuzz target for a bounded time (default 60 s each; a longer run: ./scripts/fuzz.sh 600).
# cargo-fuzz wants nightly flags; RUSTC_BOOTSTRAP lets the stable toolchain accept them.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-60}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for target in request_body patient_token contact_values hl7_message fhir_resource emr_formats sms_reply inbound_sms delivery_event; do
  echo "== $target ($seconds s)"
  status=0
  cargo fuzz run "$target" -- -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E "^stat::(number_of_executed_units|peak_rss_mb)|DONE|ERROR|panicked|SUMMARY" "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -40 "$log"
    exit "$status"
  fi
done
