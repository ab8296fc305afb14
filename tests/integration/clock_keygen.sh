#!/bin/sh
# SPDX-License-Identifier: ISC
# `carimbo clock keygen STATE` never replaces a seal key unless told: the
# old key's public half is what verifies the seals of the audit log
# already written (ntp/README.md "The seal key").  A second keygen is
# refused with a non-zero exit, names the file and leaves clock-seal.key
# and clock-seal.pub byte for byte as they were; a .pub without its .key
# is refused too; with --force both are replaced.  Needs $CARIMBO
# (tests/run.sh sets it).
set -u

: "${CARIMBO:?CARIMBO must name the carimbo binary}"

T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
fails=0

fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

ok() {
	echo "ok: $*"
}

d=$T/state
mkdir -m 700 "$d" || exit 1
if ! "$CARIMBO" clock keygen "$d" >"$T/out" 2>&1; then
	cat "$T/out"
	echo "FAIL: first keygen"
	exit 1
fi
[ -s "$d/clock-seal.key" ] && [ -s "$d/clock-seal.pub" ] ||
    { echo "FAIL: first keygen wrote no key pair"; exit 1; }
cp -p "$d/clock-seal.key" "$T/key.0"
cp -p "$d/clock-seal.pub" "$T/pub.0"

# Again, without --force: refused, nothing touched.
if "$CARIMBO" clock keygen "$d" >"$T/out" 2>&1; then
	fail "second keygen without --force succeeded"
else
	ok "second keygen without --force refused"
fi
grep -q "clock-seal.key" "$T/out" ||
    fail "the refusal does not name clock-seal.key: $(cat "$T/out")"
grep -q -- "--force" "$T/out" ||
    fail "the refusal does not mention --force: $(cat "$T/out")"
cmp -s "$d/clock-seal.key" "$T/key.0" ||
    fail "clock-seal.key changed by a refused keygen"
cmp -s "$d/clock-seal.pub" "$T/pub.0" ||
    fail "clock-seal.pub changed by a refused keygen"
[ -e "$d/clock-seal.key.tmp" ] && fail "a refused keygen left a .tmp"

# Only the .pub left (the key lost): auditors still need it, refused too.
d2=$T/pubonly
mkdir -m 700 "$d2" || exit 1
cp "$T/pub.0" "$d2/clock-seal.pub"
if "$CARIMBO" clock keygen "$d2" >"$T/out" 2>&1; then
	fail "keygen over a lone clock-seal.pub succeeded"
else
	ok "keygen over a lone clock-seal.pub refused"
fi
cmp -s "$d2/clock-seal.pub" "$T/pub.0" ||
    fail "a lone clock-seal.pub changed by a refused keygen"
[ -e "$d2/clock-seal.key" ] && fail "a refused keygen wrote clock-seal.key"

# With --force: both replaced.
if ! "$CARIMBO" clock keygen --force "$d" >"$T/out" 2>&1; then
	fail "keygen --force: $(cat "$T/out")"
else
	ok "keygen --force succeeded"
fi
cmp -s "$d/clock-seal.key" "$T/key.0" &&
    fail "clock-seal.key not replaced by keygen --force"
cmp -s "$d/clock-seal.pub" "$T/pub.0" &&
    fail "clock-seal.pub not replaced by keygen --force"
[ "$(stat -c %a "$d/clock-seal.key")" = 600 ] ||
    fail "clock-seal.key after --force: mode $(stat -c %a "$d/clock-seal.key")"

# A usage error (unknown option, no STATE) is exit 2, not a key.
"$CARIMBO" clock keygen --bogus "$d" >/dev/null 2>&1
[ $? -eq 2 ] || fail "keygen --bogus: not a usage error"

[ "$fails" -eq 0 ] || { echo "$fails failed"; exit 1; }
echo "all passed"
