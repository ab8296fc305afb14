#!/bin/sh
# SPDX-License-Identifier: ISC
#
# `make install` into a DESTDIR with the default PREFIX (/usr/local):
# every file in its place with its mode, the units' Exec lines given the
# installed binary, the sysusers.d and tmpfiles.d entries, and an
# operator's edited carimbo.conf left alone by a second install; the
# units pass `systemd-analyze verify`, and the service, the config, the
# tmpfiles entry and the clock report agree on one config and one state
# folder; and with PREFIX=/opt/carimbo, the units run
# /opt/carimbo/bin/carimbo on /opt/carimbo/etc/carimbo/carimbo.conf.  (The
# package, which installs with PREFIX=/usr, is package.py's.)
set -u
CARIMBO=${CARIMBO:-build/carimbo}
case $CARIMBO in
/*) B=$(dirname "$CARIMBO") ;;
*)  B=$PWD/$(dirname "$CARIMBO") ;;
esac
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
fails=0
fail() { echo "  FAIL: $*"; fails=$((fails + 1)); }
# The calling make's flags (SAN=1, -j) are not this install's.
inst() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$ROOT" install \
	    B="$B" DESTDIR="$D" "$@" >"$D.log" 2>&1 ||
		{ echo "FAIL: make install:"; cat "$D.log"; rm -f "$D.log";
		  exit 1; }
	rm -f "$D.log"
}

[ -x "$CARIMBO" ] || { echo "FAIL: $CARIMBO not built"; exit 1; }
inst
P=$D/usr/local
mode() { stat -c %a "$1" 2>/dev/null; }
[ "$(mode "$P/bin/carimbo")" = 755 ] || fail "bin/carimbo not 0755"
cmp -s "$P/bin/carimbo" "$CARIMBO" || fail "bin/carimbo is not $CARIMBO"
for f in share/man/man1/carimbo.1 share/man/man5/carimbo.conf.5 \
    share/doc/carimbo/README.md share/doc/carimbo/examples/carimbo.conf \
    share/doc/carimbo/examples/chrony.conf etc/carimbo/carimbo.conf \
    lib/sysusers.d/carimbo.conf lib/tmpfiles.d/carimbo.conf \
    lib/systemd/system/carimbo.service; do
	[ "$(mode "$P/$f")" = 644 ] || fail "$f missing or not 0644"
done
grep -q '^u carimbo ' "$P/lib/sysusers.d/carimbo.conf" ||
	fail "sysusers.d: no user carimbo"
grep -q '^d /var/lib/carimbo 0700 carimbo carimbo' \
    "$P/lib/tmpfiles.d/carimbo.conf" || fail "tmpfiles.d: no /var/lib/carimbo"
n=0
for u in "$ROOT"/systemd/*.service "$ROOT"/systemd/*.socket \
    "$ROOT"/systemd/*.timer; do
	[ -f "$u" ] || continue
	n=$((n + 1))
	i=$P/lib/systemd/system/${u##*/}
	[ -f "$i" ] || { fail "${u##*/} not installed"; continue; }
	grep -E '^Exec[A-Za-z]*=' "$i" | grep -v '=[-@!:+]*/usr/local/bin/carimbo ' |
	    grep '/carimbo ' && fail "${u##*/}: an Exec line runs another carimbo"
done
[ "$n" -ge 1 ] || fail "no unit in systemd/"
grep -q '^ExecStart=/usr/local/bin/carimbo serve ' \
    "$P/lib/systemd/system/carimbo.service" ||
	fail "carimbo.service does not run /usr/local/bin/carimbo"

# The units as systemd reads them (its man page lookups off: the pages
# are not installed on this machine), each given this build's carimbo in
# place of BINDIR's, which is not here either.
S=$P/lib/systemd/system
for u in carimbo-admin.socket carimbo-clock-report.service \
    carimbo-clock-report.timer; do
	[ -f "$S/$u" ] || fail "$u not installed"
done
mkdir "$D/verify"
for u in "$S"/carimbo*; do
	sed "s|=/usr/local/bin/carimbo |=$B/carimbo |" "$u" \
	    >"$D/verify/${u##*/}"
done
out=$(systemd-analyze verify --man=no "$D"/verify/carimbo* 2>&1) ||
	fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"

# One config path: the service reads SYSCONFDIR's carimbo.conf, whose
# state_dir is the folder the unit may write, tmpfiles makes, and the
# clock report reads and writes under.
grep -qx 'ExecStart=/usr/local/bin/carimbo serve -c /usr/local/etc/carimbo/carimbo.conf' \
    "$S/carimbo.service" ||
	fail "carimbo.service does not read SYSCONFDIR's carimbo.conf"
sd=$(sed -n 's/^state_dir = //p' "$P/etc/carimbo/carimbo.conf")
[ "$sd" = /var/lib/carimbo ] || fail "carimbo.conf: state_dir \"$sd\""
grep -qx "ReadWritePaths=$sd" "$S/carimbo.service" ||
	fail "carimbo.service may not write $sd"
grep -q "^d $sd 0700 carimbo carimbo" "$P/lib/tmpfiles.d/carimbo.conf" ||
	fail "tmpfiles.d does not make $sd"
grep -qx 'ExecStart=/usr/local/bin/carimbo ca crl -c /usr/local/etc/carimbo/carimbo.conf --refresh' \
    "$S/carimbo-crl.service" ||
	fail "carimbo-crl.service does not read SYSCONFDIR's carimbo.conf"
grep -qx "ExecStart=/usr/local/bin/carimbo clock report $sd/clock -o $sd/reports" \
    "$S/carimbo-clock-report.service" ||
	fail "carimbo-clock-report.service does not report on $sd/clock"

echo "# the operator's" >>"$P/etc/carimbo/carimbo.conf"
inst
tail -n 1 "$P/etc/carimbo/carimbo.conf" | grep -q "the operator's" ||
	fail "a second make install replaced etc/carimbo/carimbo.conf"

inst PREFIX=/opt/carimbo
grep -qx 'ExecStart=/opt/carimbo/bin/carimbo serve -c /opt/carimbo/etc/carimbo/carimbo.conf' \
    "$D/opt/carimbo/lib/systemd/system/carimbo.service" ||
	fail "PREFIX=/opt/carimbo: carimbo.service does not run its carimbo"
[ -x "$D/opt/carimbo/bin/carimbo" ] || fail "PREFIX=/opt/carimbo: no bin"

if [ "$fails" -gt 0 ]; then
	echo "install.sh: $fails check(s) failed"
	exit 1
fi
echo "install.sh: $n unit(s) and every file installed as expected"
