#!/usr/bin/env bash
# What metrics cost one short poll, in instructions (BENCHMARKS.md, "Metrics
# on the hot path"): callgrind counts the connection task's user-space work
# for 500 and for 2,500 short polls on one connection; the difference over
# 2,000 is one request. Each variant runs REPEAT times (default 3): identical
# runs differ by a few hundred instructions inside glibc's malloc.
#
#   bench/callgrind/metrics-cost.sh [AUDIT=true|false] [REPEAT]
#
# Needs valgrind, python3 and a release build (cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/../.."
audit=${1:-true}
repeat=${2:-3}
bin=${QRLOGIN_BIN:-target/release/qrlogin}
port=18555
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A fixed signing key: a key generated at start-up leaves malloc's free
# lists in a different state in every run.
cp tests/fixtures/rs256_private.pem "$work/key.pem"
cat > "$work/config.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
public_url = "http://127.0.0.1:$port"
[[users]]
token = "demo-alice"
id = "alice"
name = "Alice"
[oidc]
signing_keys = ["key.pem"]
TOML

# count METRICS N: instructions of N short polls.
count() {
  # The server reads QRLOGIN_* variables as config: not the one naming it.
  env -u QRLOGIN_BIN QRLOGIN_METRICS__ENABLED=$1 QRLOGIN_AUDIT__ENABLED=$audit valgrind --tool=callgrind \
    --callgrind-out-file="$work/out" \
    --toggle-collect='hyper::proto::h1::dispatch::Dispatcher*::poll_catch' \
    "$bin" --config "$work/config.toml" >"$work/log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 200); do
    curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && break
    sleep 0.25
  done
  python3 bench/callgrind/short_polls.py "$port" "$2"
  kill -INT "$pid"
  wait "$pid" || true
  callgrind_annotate --auto=no "$work/out" | sed -n 's/^ *\([0-9,]*\) (100.0%) *PROGRAM TOTALS.*/\1/p' | tr -d ,
}

for metrics in false true; do
  for _ in $(seq 1 "$repeat"); do
    small=$(count "$metrics" 500)
    large=$(count "$metrics" 2500)
    echo "metrics=$metrics audit=$audit instructions per short poll: $(( (large - small) / 2000 ))"
  done
done
