#!/usr/bin/env bash
# Rappel's benchmarks (not part of the test suite; figures and budgets in docs/PERFORMANCE.md).
#
#   scripts/bench.sh lambda     the three functions' release binaries through a local Lambda
#                               Runtime API, beside two reference Lambdas (rappel-lambda-bench)
#   scripts/bench.sh calls      AWS calls and DynamoDB capacity per operation, through the
#                               release binaries against moto (rappel-lambda-bench --calls)
#   scripts/bench.sh criterion  the hot paths (cargo bench -p rappel)
#   scripts/bench.sh dev        saves per second on the release dev server, loaded by wrk
#   scripts/bench.sh zip        cargo lambda build --release --arm64 and the zips' sizes
#   scripts/bench.sh reliability  the deployed shape's long run: 2,000 appointments through 4
#                               release instances of each function, AWS faults and kills
#   scripts/bench.sh import     a bulk import: 10,000 saves for one clinic from 16 instances
#   scripts/bench.sh first-run [REV]  the README's first command on a fresh clone of REV
#                               (default HEAD): wall time until rappel-dev listens
#   scripts/bench.sh            lambda, criterion, dev and zip
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}

python_tools() {
  local venv=target/python-tools
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt cargo-lambda==1.9.2 ziglang==0.17.1
  export PATH="$PWD/$venv/bin:$PATH"
  export RAPPEL_MOTO_SERVER="${RAPPEL_MOTO_SERVER:-$PWD/infra/aws-faults/moto/moto-server}"
}

lambda() {
  python_tools
  cargo build --release --locked -p rappel-lambda-bench
  target/release/rappel-lambda-bench "$@"
}

criterion() {
  cargo bench --locked -p rappel --bench hot_paths -- "$@"
}

dev() {
  if ! command -v wrk >/dev/null 2>&1; then
    apt-get install -y -qq wrk >/dev/null
  fi
  cargo build --release --locked -p rappel-dev --bin rappel-dev
  local data port pid
  data=$(mktemp -d)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  RAPPEL_DEV_ADDR="127.0.0.1:$port" RAPPEL_DEV_DATA="$data" RUST_LOG=warn target/release/rappel-dev >/dev/null 2>&1 &
  pid=$!
  # `|| true`: the server's exit status after the kill is not zero, and `set -e` would end the
  # script there, leaving the data directory (up to 3 GiB of logs) behind.
  trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$data"' RETURN
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$port/v1/appointment-types" -H 'Authorization: Bearer dev-key' >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS -X PUT "http://127.0.0.1:$port/v1/appointment-types/BENCH" -H 'Authorization: Bearer dev-key' \
    -H 'Content-Type: application/json' -d '{"communications":"full"}' >/dev/null
  # A warm-up, then the measured run: one wrk thread and 32 connections leave a core to the server.
  wrk -t1 -c32 -d3s -s infra/lambda-bench/dev-server-saves.lua "http://127.0.0.1:$port" >/dev/null
  wrk -t1 -c32 -d20s --latency -s infra/lambda-bench/dev-server-saves.lua "http://127.0.0.1:$port"
  echo "outbox: $(curl -fsS "http://127.0.0.1:$port/_dev/outbox.json" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') messages"
}

zip() {
  python_tools
  cargo lambda build --release --arm64 --locked --output-format zip -p on-save -p patient-action -p reminder -p inbound-sms -p delivery-events
  for f in on-save patient-action reminder inbound-sms delivery-events; do
    printf '%-15s %8d bytes zipped (budget 3145728)\n' "$f" "$(stat -c %s "target/lambda/$f/bootstrap.zip")"
  done
}

# The README's first command (`cargo run --bin rappel-dev`) in a fresh clone with its own target
# directory, timed until the dev server says it is listening. Crates already downloaded to
# ~/.cargo are reused, as on any machine that has built Rust before.
first_run() {
  local rev=${1:-HEAD} dir
  dir=$(mktemp -d)
  git clone --quiet "$PWD" "$dir/rappel"
  git -C "$dir/rappel" checkout --quiet "$rev"
  local started=$SECONDS
  # In a session of its own, so that stopping it stops `cargo run` and the server it started.
  setsid bash -c 'cd "$0" && RAPPEL_DEV_ADDR=127.0.0.1:0 RAPPEL_DEV_DATA="$1" exec cargo run --bin rappel-dev' \
    "$dir/rappel" "$dir/data" >"$dir/out" 2>"$dir/err" &
  local runner=$!
  until grep -q "listening on" "$dir/out" 2>/dev/null; do
    if ! kill -0 "$runner" 2>/dev/null; then tail -20 "$dir/err" >&2; rm -rf "$dir"; return 1; fi
    sleep 1
  done
  echo "first run of $(git rev-parse --short "$rev"): rappel-dev listening after $((SECONDS - started)) s"
  kill -TERM -- "-$runner" 2>/dev/null || true
  sleep 1
  kill -KILL -- "-$runner" 2>/dev/null || true
  wait "$runner" 2>/dev/null || true
  rm -rf "$dir"
}

# The deployed-shape test (infra/lambda-bench/tests/deployed_shape.rs) at another size, on release binaries;
# it prints the seed, the faults injected and the counts (docs/RELIABILITY.md).
shape() {
  python_tools
  cargo build --release --locked -p on-save -p reminder -p patient-action
  RAPPEL_SHAPE_PROFILE=release cargo test --locked -p rappel-lambda-bench --test deployed_shape -- --nocapture
}

case "$what" in
  reliability) RAPPEL_SHAPE_APPOINTMENTS=${RAPPEL_SHAPE_APPOINTMENTS:-2000} RAPPEL_SHAPE_INSTANCES=${RAPPEL_SHAPE_INSTANCES:-4} RAPPEL_SHAPE_RETRY_SECONDS=${RAPPEL_SHAPE_RETRY_SECONDS:-600} RAPPEL_SHAPE_LANES=${RAPPEL_SHAPE_LANES:-96} RAPPEL_SHAPE_KILL_EVERY=${RAPPEL_SHAPE_KILL_EVERY:-40} shape ;;
  import) RAPPEL_SHAPE_IMPORT=1 RAPPEL_SHAPE_APPOINTMENTS=${RAPPEL_SHAPE_APPOINTMENTS:-10000} RAPPEL_SHAPE_INSTANCES=${RAPPEL_SHAPE_INSTANCES:-16} RAPPEL_SHAPE_RETRY_SECONDS=${RAPPEL_SHAPE_RETRY_SECONDS:-600} RAPPEL_SHAPE_LANES=${RAPPEL_SHAPE_LANES:-96} RAPPEL_SHAPE_KILL_EVERY=${RAPPEL_SHAPE_KILL_EVERY:-40} shape ;;
  lambda) shift; lambda "$@" ;;
  calls) shift; lambda --calls "$@" ;;
  criterion) shift; criterion "$@" ;;
  dev) dev ;;
  zip) zip ;;
  first-run) shift; first_run "$@" ;;
  all) zip; lambda; criterion; dev ;;
  *) echo "usage: scripts/bench.sh [lambda|calls|criterion|dev|zip|reliability|import|first-run|all]" >&2; exit 2 ;;
esac
