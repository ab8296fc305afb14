#!/bin/sh
# SPDX-License-Identifier: ISC
# /ers and / against the trivial responder, all loaded by wrk (an
# independent load generator, lighter than `carimbo bench`, which checks
# every answer): starts `carimbo serve` with STATE's config and the
# ceiling responder (`carimbo bench --ceiling --serve-only`) with a body
# the size of an /ers reply, on loopback ports; runs wrk on each (the
# ceiling before and after /ers) for SECONDS with CONNS connections, DEPTH
# requests pipelined (1: none); then prints requests/s, latency
# percentiles and the ratios.  Without pipelining it also runs the
# ceiling whose answers wait for a durable block write in the ledger's
# folder (`--durable`): the most a server bound by the ledger's contract
# can reach on this disk.  Workers: $WORKERS
# (default 2).  One wrk thread: on two cores the client must leave the
# server one (doc/performance.md "Reproduce").
#
#   bench/wrk-compare.sh STATE CONNS SECONDS [DEPTH]
set -eu
STATE=$1 CONNS=$2 SECS=$3 DEPTH=${4:-1}
CARIMBO=${CARIMBO:-build/carimbo}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
here=$(dirname "$0")
tmp=$(mktemp -d)
spid= cpid= dpid= dfile=
trap 'kill $spid $cpid $dpid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; [ -z "$dfile" ] || rm -f "$dfile"' EXIT
# Beside carimbo.conf: its relative paths resolve against its folder.
{ cat "$STATE/carimbo.conf"; echo "workers = ${WORKERS:-2}"; } > "$STATE/wrk-compare.conf"
head -c 64 /dev/urandom > "$tmp/data"
openssl ts -query -data "$tmp/data" -sha256 -cert -out "$tmp/q.tsq" 2>/dev/null
listening() {	# OUTFILE: the port, once the line is there
	i=0
	until grep -q 'listening on' "$1" 2>/dev/null; do
		i=$((i + 1)); [ $i -lt 100 ] || { echo "no listening line in $1" >&2; exit 1; }
		sleep 0.1
	done
	sed -n 's/^listening on 127\.0\.0\.1://p' "$1"
}
"$CARIMBO" serve -c "$STATE/wrk-compare.conf" --listen 127.0.0.1:0 > "$tmp/s.out" 2> "$tmp/s.err" &
spid=$!
sport=$(listening "$tmp/s.out")
size=$(curl -s --data-binary @"$tmp/q.tsq" -H 'Content-Type: application/timestamp-query' \
    -o "$tmp/r.ers" -w '%{size_download}' "http://127.0.0.1:$sport/ers")
"$CARIMBO" bench --ceiling --body-size "$size" --serve-only > "$tmp/c.out" 2>&1 &
cpid=$!
cport=$(listening "$tmp/c.out")
if [ "$DEPTH" -eq 1 ]; then
	# The ledger's folder (ledger_dir, relative to the config's folder).
	ldir=$(sed -n 's/^ledger_dir[ 	]*=[ 	]*//p' "$STATE/carimbo.conf" | tail -n 1)
	case $ldir in /*) ;; '') ldir=$STATE/ledger ;; *) ldir=$STATE/$ldir ;; esac
	dfile=$ldir/wrk-compare-durable.blk
	"$CARIMBO" bench --ceiling --body-size "$size" --serve-only \
	    --durable "$dfile" > "$tmp/d.out" 2>&1 &
	dpid=$!
	dport=$(listening "$tmp/d.out")
fi
run() {	# NAME URL
	if [ "$DEPTH" -gt 1 ]; then
		TSQ="$tmp/q.tsq" DEPTH=$DEPTH wrk -t1 -c"$CONNS" -d"${SECS}s" --latency \
		    -s "$here/wrk-pipe.lua" "$2" > "$tmp/$1.txt"
	else
		TSQ="$tmp/q.tsq" wrk -t1 -c"$CONNS" -d"${SECS}s" --latency \
		    -s "$here/wrk-tsq.lua" "$2" > "$tmp/$1.txt"
	fi
	rps=$(awk '/^Requests\/sec/{print $2}' "$tmp/$1.txt")
	# wrk 4.1 prints 0.00us for the high percentiles of pipelined runs.
	lat=$(awk '/^ +(50|90|99)%/{printf " p%s %s", $1, $2 == "0.00us" ? "n/a" : $2}' \
	    "$tmp/$1.txt" | tr -d '%')
	non2xx=$(awk '/Non-2xx/{print $NF}' "$tmp/$1.txt")
	echo "$1 $rps" >> "$tmp/rates"
	printf '%-8s %12s req/s %s%s\n' "$1" "$rps" "$lat" "${non2xx:+  non-2xx: $non2xx}"
}
echo "wrk -t1 -c$CONNS, ${SECS} s each, pipeline $DEPTH; /ers reply $size bytes; server workers ${WORKERS:-2}"
# The ceiling just before and just after /ers: the ratio takes their
# mean, so a load that drifts during the three runs cancels out.
run ceiling "http://127.0.0.1:$cport/"
[ -z "$dpid" ] || run durable "http://127.0.0.1:$dport/"
run ers "http://127.0.0.1:$sport/ers"
run ceiling2 "http://127.0.0.1:$cport/"
run std "http://127.0.0.1:$sport/"
awk '{r[$1] = $2} END {
	c = (r["ceiling"] + r["ceiling2"]) / 2
	printf "/ers / ceiling (mean of before and after): %.3f   /ers / \"/\": %.2fx\n", r["ers"] / c, r["ers"] / r["std"]
	if (r["durable"] > 0)
		printf "durable ceiling / ceiling: %.3f   /ers / durable ceiling: %.3f\n", r["durable"] / c, r["ers"] / r["durable"] }' "$tmp/rates"
