#!/usr/bin/env bash
# Instructions per request of one scenario (BENCHMARKS.md, "Instructions per
# short poll" and "QR creation + SVG"): callgrind counts the connection
# task's user-space work for SMALL and for LARGE requests on one keep-alive
# connection; the difference over LARGE - SMALL is one request (one pair for
# create-svg). Each count runs REPEAT times (default 3): identical runs
# differ by a few hundred instructions inside glibc's malloc.
#
#   bench/callgrind/per-request.sh short-poll|create-svg [REPEAT]
#
# QRLOGIN_BIN names the binary (default target/release/qrlogin); with
# ANNOTATE=1 the last large run's profile is printed (callgrind_annotate).
# Needs valgrind, python3 and a release build (cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/../.."
scenario=${1:?short-poll or create-svg}
repeat=${2:-3}
bin=${QRLOGIN_BIN:-${CARGO_TARGET_DIR:-target}/release/qrlogin}
case "$scenario" in
  short-poll) script=bench/callgrind/short_polls.py small=500 large=2500 ;;
  create-svg) script=bench/callgrind/create_svg.py small=200 large=1200 ;;
  *) echo "unknown scenario $scenario" >&2; exit 2 ;;
esac
port=18556
work=$(mktemp -d)
trap '[ "${KEEP:-0}" = 1 ] || rm -rf "$work"' EXIT
# A fixed signing key: a key generated at start-up leaves malloc's free
# lists in a different state in every run.
cp tests/fixtures/rs256_private.pem "$work/key.pem"
cat > "$work/config.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
public_url = "http://127.0.0.1:$port"
[limits]
qr_per_minute_per_ip = 100000000
max_live_sessions = 100000000
[[users]]
token = "demo-alice"
id = "alice"
name = "Alice"
[oidc]
signing_keys = ["key.pem"]
TOML

# count N: instructions of N requests (pairs).
count() {
  # The server reads QRLOGIN_* variables as config: not the one naming it.
  env -u QRLOGIN_BIN valgrind --tool=callgrind --callgrind-out-file="$work/out" \
    --toggle-collect='hyper::proto::h1::dispatch::Dispatcher*::poll_catch' \
    "$bin" --config "$work/config.toml" >"$work/log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 200); do
    curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && break
    sleep 0.25
  done
  python3 "$script" "$port" "$1"
  kill -INT "$pid"
  wait "$pid" || true
  callgrind_annotate --auto=no "$work/out" | sed -n 's/^ *\([0-9,]*\) (100.0%) *PROGRAM TOTALS.*/\1/p' | tr -d ,
}

for _ in $(seq 1 "$repeat"); do
  s=$(count "$small")
  l=$(count "$large")
  echo "$scenario: instructions per request: $(( (l - s) / (large - small) ))"
done
if [ "${ANNOTATE:-0}" = 1 ]; then
  callgrind_annotate --inclusive=yes "$work/out" | head -80
  callgrind_annotate "$work/out" | head -60
fi
