#!/bin/sh
# Runs every unit test binary and integration script; prints one summary
# line "N passed, N failed, N skipped".  A test that exits 77 is skipped
# (it prints why).  B names the build folder (build or build-san).
B=${B:-build}
case $B in
/*) export CARIMBO="$B/carimbo" ;;
*)  export CARIMBO="$PWD/$B/carimbo" ;;
esac
pass=0 fail=0 skip=0 failed=""
run() {
	name=$1; shift
	log=$(mktemp)
	"$@" >"$log" 2>&1
	rc=$?
	case $rc in
	0)  pass=$((pass + 1)); echo "PASS $name" ;;
	77) skip=$((skip + 1)); echo "SKIP $name: $(tail -n 1 "$log")" ;;
	*)  fail=$((fail + 1)); failed="$failed $name"
	    echo "FAIL $name (exit $rc)"; sed 's/^/    /' "$log" | tail -n 40 ;;
	esac
	rm -f "$log"
}
for t in "$B"/tests/test_*; do
	[ -x "$t" ] || continue
	run "$(basename "$t")" "$t"
done
for t in tests/integration/*.sh tests/integration/*.py; do
	[ -f "$t" ] || continue
	case $t in
	*.py) run "$(basename "$t")" python3 "$t" ;;
	*)    run "$(basename "$t")" sh "$t" ;;
	esac
done
echo
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
