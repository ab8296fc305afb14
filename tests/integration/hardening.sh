#!/bin/sh
# SPDX-License-Identifier: ISC
#
# The build's hardening (Makefile HARDEN, as Debian's hardening=+all):
# read off the binary with readelf (binutils), the same facts Debian's
# hardening-check reads.  PIE; full RELRO with immediate binding; the
# stack protector; fortified libc calls (not under the sanitizers, which
# intercept the same calls); CET (IBT and shadow stack) marked on every
# object of the project's archive (the executable as a whole is marked
# only when the C library's start files are too, which Debian 12's are
# not).
set -u
CARIMBO=${CARIMBO:-build/carimbo}
B=$(dirname "$CARIMBO")
fails=0
fail() { echo "  FAIL: $*"; fails=$((fails + 1)); }

command -v readelf >/dev/null 2>&1 ||
	{ echo "FAIL: readelf not found (binutils, make deps)"; exit 1; }
[ -x "$CARIMBO" ] || { echo "FAIL: $CARIMBO not built"; exit 1; }

readelf -h "$CARIMBO" | grep -q 'Type: *DYN' ||
	fail "not a position-independent executable"
dyn=$(readelf -d "$CARIMBO")
printf '%s\n' "$dyn" | grep -q 'BIND_NOW' ||
	fail "no immediate binding (-z now)"
printf '%s\n' "$dyn" | grep -q 'FLAGS_1.*PIE' ||
	fail "FLAGS_1 does not say PIE"
readelf -lW "$CARIMBO" | grep -q 'GNU_RELRO' || fail "no RELRO segment"
syms=$(readelf --dyn-syms -W "$CARIMBO")
printf '%s\n' "$syms" | grep -q '__stack_chk_fail' ||
	fail "no stack protector (__stack_chk_fail not called)"
if grep -q __asan_init "$CARIMBO"; then
	echo "note: built with AddressSanitizer: fortified calls not checked"
else
	n=$(printf '%s\n' "$syms" | grep -c '__[a-z_]*_chk@')
	[ "$n" -ge 5 ] || fail "only $n fortified libc calls (_FORTIFY_SOURCE)"
fi
# Every object of the archive: IBT and SHSTK.
if [ -f "$B/libcarimbo.a" ]; then
	total=$(readelf -n "$B/libcarimbo.a" 2>/dev/null | grep -c '^File:')
	cet=$(readelf -n "$B/libcarimbo.a" 2>/dev/null |
	    grep -c 'x86 feature: IBT, SHSTK')
	[ "$total" -gt 0 ] && [ "$cet" -eq "$total" ] ||
		fail "CET marked on $cet of $total objects (-fcf-protection)"
else
	fail "$B/libcarimbo.a not found"
fi

if [ "$fails" -gt 0 ]; then
	echo "hardening.sh: $fails check(s) failed"
	exit 1
fi
echo "hardening.sh: all checks passed"
