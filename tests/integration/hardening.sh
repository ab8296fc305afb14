#!/bin/sh
# SPDX-License-Identifier: ISC
#
# The build's hardening (Makefile HARDEN, as Debian's hardening=+all),
# judged twice.  First by Debian's own hardening-check (devscripts, make
# deps): any "no" fails, with two exceptions it is told about.  Control
# flow integrity: the executable as a whole is marked IBT and SHSTK only
# when every object linked is, and Debian 12's C library start files
# (Scrt1.o, crti.o, crtn.o) are not, so no Debian 12 executable is;
# hence the check below on every object of the project's archive.
# Fortify under ASan (SAN=1), which intercepts the same calls: the
# Makefile leaves _FORTIFY_SOURCE out there, and make test without SAN
# checks it.
# Then read off the binary with readelf and objdump (binutils): PIE; full
# RELRO with immediate binding; the stack protector; fortified libc calls;
# stack clash probes (hardening-check knows only an older GCC's sequence
# and says "unknown" for GCC 12's loop); CET marked on every object of
# the archive.
set -u
CARIMBO=${CARIMBO:-build/carimbo}
B=$(dirname "$CARIMBO")
fails=0
fail() { echo "  FAIL: $*"; fails=$((fails + 1)); }

for t in readelf objdump hardening-check; do
	command -v $t >/dev/null 2>&1 ||
		{ echo "FAIL: $t not found (make deps)"; exit 1; }
done
[ -x "$CARIMBO" ] || { echo "FAIL: $CARIMBO not built"; exit 1; }
san=0
grep -q __asan_init "$CARIMBO" && san=1

opts=--nocfprotection
[ "$san" -eq 1 ] && opts="$opts --nofortify"
hc=$(hardening-check $opts "$CARIMBO" 2>&1)
rc=$?
printf '%s\n' "$hc"
[ "$rc" -eq 0 ] || fail "hardening-check $opts: exit $rc"
printf '%s\n' "$hc" | grep ': no' | grep -v '(ignored)' |
	while IFS= read -r l; do echo "  FAIL: hardening-check:$l"; done
n=$(printf '%s\n' "$hc" | grep ': no' | grep -vc '(ignored)')
[ "$n" -eq 0 ] || fails=$((fails + n))

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
if [ "$san" -eq 1 ]; then
	echo "note: built with AddressSanitizer: fortified calls not checked"
else
	n=$(printf '%s\n' "$syms" | grep -c '__[a-z_]*_chk@')
	[ "$n" -ge 5 ] || fail "only $n fortified libc calls (_FORTIFY_SOURCE)"
fi
# -fstack-clash-protection: GCC 12 probes each page of a large frame,
# "sub rsp,0x1000" then "or QWORD PTR [rsp],0x0".
n=$(objdump -d -M intel --no-show-raw-insn "$CARIMBO" |
    grep -c 'or  *QWORD PTR \[rsp\],0x0')
[ "$n" -ge 1 ] || fail "no stack clash probes (-fstack-clash-protection)"
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
