#!/bin/sh
# SPDX-License-Identifier: ISC
# Loads a carimbo server with wrk (Debian package wrk) until `carimbo
# bench` has its HTTP load generator.  Starts `carimbo serve` on a free
# loopback port with STATE's config (workers overridden by $WORKERS if set),
# runs wrk for SECONDS with CONNS connections, prints wrk's report with
# latency percentiles, stops the server.  Loopback only.
#
#   bench/wrk.sh STATE CONNS SECONDS
set -eu
STATE=$1 CONNS=$2 SECS=$3
CARIMBO=${CARIMBO:-build/carimbo}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
conf=$STATE/carimbo.conf
if [ -n "${WORKERS:-}" ]; then
	{ cat "$STATE/carimbo.conf"; echo "workers = $WORKERS"; } > "$STATE/bench.conf"
	conf=$STATE/bench.conf
fi
head -c 64 /dev/urandom > "$tmp/data"
openssl ts -query -data "$tmp/data" -sha256 -cert -out "$tmp/q.tsq" 2>/dev/null
"$CARIMBO" serve -c "$conf" --listen 127.0.0.1:0 > "$tmp/out" 2> "$tmp/err" &
pid=$!
i=0
until grep -q 'listening on' "$tmp/out" 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 100 ] || { cat "$tmp/err"; exit 1; }
	sleep 0.1
done
addr=$(sed -n 's/^listening on //p' "$tmp/out")
threads=1
TSQ="$tmp/q.tsq" wrk -t"$threads" -c"$CONNS" -d"${SECS}s" --latency \
    -s "$(dirname "$0")/wrk-tsq.lua" "http://$addr/"
