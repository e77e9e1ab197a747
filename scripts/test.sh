#!/usr/bin/env bash
# Runs Rappel's whole test suite on a fresh machine, installing what it needs first:
# moto (a local AWS emulator) and cfn-lint from PyPI. Unit, service, router, store-contract
# (SQLite and DynamoDB on moto), AWS-adapter and black-box (spawned rappel-dev) tests, and
# a lint of template.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "scripts/test.sh: cargo is required (install Rust from https://rustup.rs)" >&2
  exit 1
fi
python=$(command -v python3 || command -v python || true)
if [ -z "$python" ]; then
  echo "scripts/test.sh: python3 is required (for moto and cfn-lint)" >&2
  exit 1
fi

# Python tools, installed once; their scripts directory is where pip put them.
"$python" -m pip install --quiet --disable-pip-version-check -r infra/requirements-test.txt
scripts_dir=$("$python" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
export PATH="$scripts_dir:$HOME/.local/bin:$PATH"
export RAPPEL_MOTO_SERVER="${RAPPEL_MOTO_SERVER:-$(command -v moto_server)}"

echo "cfn-lint template.yaml"
cfn-lint template.yaml

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log" || status=$?

# One closing line for the whole run: cargo prints a result line per test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
