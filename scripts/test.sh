#!/usr/bin/env bash
# Runs Rappel's whole test suite on a fresh machine, installing what it needs first:
# moto (a local AWS emulator) and cfn-lint from PyPI, Chromium and chromedriver from Debian. Unit, service, router, store-contract
# (SQLite and DynamoDB on moto), AWS-adapter (through a fault-injecting proxy), deployed-shape
# (the function binaries, several instances each, under AWS faults and kills), black-box (spawned
# rappel-dev) and browser (headless Chromium at phone sizes) tests, and a lint of template.yaml
# (cfn-lint, then scripts/check_template.py for the DLQ, its alarm and the sender IAM),
# and a check of the moto repair the AWS tests run on (infra/aws-faults/moto).
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

# Python tools live in a virtual environment under target/, so the system Python (which may
# refuse pip installs) is left alone. Debian's python3 needs python3-venv for that.
venv=target/python-tools
if [ ! -x "$venv/bin/python" ]; then
  if ! "$python" -m venv "$venv" 2>/dev/null; then
    rm -rf "$venv"
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    fi
    "$python" -m venv "$venv"
  fi
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
export PATH="$PWD/$venv/bin:$PATH"
export RAPPEL_MOTO_SERVER="${RAPPEL_MOTO_SERVER:-$PWD/infra/aws-faults/moto/moto-server}"

# Debian's Chromium and its WebDriver for the browser tests.
if ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "scripts/test.sh: the browser tests need Debian's chromium and chromium-driver (apt-get install as root)" >&2
    exit 1
  fi
fi

# The functions' zips stay under 3 MiB with IDNA's Unicode tables left out (vendor/README.md);
# a `cargo update` would bring them back silently.
if ! grep -A1 '^name = "idna_adapter"$' Cargo.lock | grep -q '^version = "1\.0\.'; then
  echo "scripts/test.sh: Cargo.lock must pin idna_adapter 1.0: cargo update -p idna_adapter --precise 1.0.0 (vendor/README.md)" >&2
  exit 1
fi

echo "cfn-lint template.yaml"
cfn-lint template.yaml
python scripts/check_template.py template.yaml

# The repaired moto every AWS test runs on (infra/aws-faults/moto) still behaves as moto.
python -m pytest -q -p no:cacheprovider infra/aws-faults/moto

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# libphonenumber with the regex features the functions are built with (vendor/README.md): built on
# its own, since the workspace's dev-dependencies turn every regex feature back on in the tests.
cargo run --locked -q -p rappel-phone-check || status=$?

# The deployed-shape test (infra/lambda-bench/tests/deployed_shape.rs) runs the functions' own binaries.
cargo build --locked -p on-save -p reminder -p patient-action
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log" || status=$?

# The EMR API fuzzed from openapi.yaml against the dev server.
scripts/schemathesis.sh || status=$?

# One closing line for the whole run: cargo prints a result line per test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
