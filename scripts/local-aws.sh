#!/usr/bin/env bash
# Starts a local AWS emulator (moto server) on loopback and creates what Rappel needs in it:
# the DynamoDB table, the SES identity and configuration set, the schedule group, and one clinic.
# Then `cargo lambda watch` runs the functions against it (settings in Cargo.toml's
# [workspace.metadata.lambda.env]). Stop it with: kill $(cat .rappel-moto/pid)
set -euo pipefail
cd "$(dirname "$0")/.."

port="${MOTO_PORT:-5000}"
state=.rappel-moto
mkdir -p "$state"

venv=target/python-tools
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt

if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  infra/aws-faults/moto/moto-server -H 127.0.0.1 -p "$port" >"$state/moto.log" 2>&1 &
  echo $! >"$state/pid"
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
fi

export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_REGION=ca-central-1 \
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test RAPPEL_TABLE=rappel
cargo run -q --bin rappel-admin -- local-aws --table rappel --ses-identity example.ca --schedule-group rappel
cargo run -q --bin rappel-admin -- create-clinic --id local-clinic --name "Clinique locale" \
  --sender-email rendez-vous@example.ca || true
echo "moto is listening on $AWS_ENDPOINT_URL (pid $(cat "$state/pid" 2>/dev/null || echo '?'))"
