#!/bin/sh
# SPDX-License-Identifier: ISC
# `carimbo init --demo` judged from outside: the files and their modes,
# the chain with `openssl verify`, the TSA profile (RFC 3161 2.3: one
# extendedKeyUsage, timeStamping, critical) with `openssl x509`, the CA
# state (ca/ca.conf, ca/ca.db, ca/pub/), refusal to overwrite, each key
# type, and the keys on the token, sensitive and never extractable
# (pkcs11-tool, from opensc: without it the test fails).  carimbo.conf is
# written last (file times; with strace, the order of the writes), and an
# init cut short (no module, killed, a failed seal key) leaves no
# carimbo.conf and is refused by name until --force.  Then one short
# `bench --hsm` on the state.  Needs $CARIMBO (tests/run.sh sets it).
set -u

: "${CARIMBO:?CARIMBO must name the carimbo binary}"
MODULE=${CARIMBO_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
if [ ! -r "$MODULE" ]; then
	echo "skipped: $MODULE absent (apt-get install softhsm2)"
	exit 77
fi
command -v openssl >/dev/null || { echo "skipped: no openssl"; exit 77; }

T=$(mktemp -d) || exit 1
# As init names it (realpath): strace -P below matches paths exactly.
T=$(cd "$T" && pwd -P) || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
fails=0

fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

ok() {
	echo "ok: $*"
}

# mode FILE: the permission bits in octal.
mode() {
	stat -c %a "$1"
}

# check_state DIR KEYTYPE: everything a fresh state must satisfy.
check_state() {
	d=$1 kt=$2
	for f in carimbo.conf softhsm2.conf pin so-pin root.pem \
	    tsa-chain.pem ca/ca.conf ca/ca.db ca/pub/ca/root.crt \
	    ca/pub/ca/tsa.crt ca/pub/ca/user.crt ca/pub/crl/root.crl \
	    ca/pub/crl/tsa.crl ca/pub/crl/user.crl; do
		[ -s "$d/$f" ] || fail "$kt: $f missing or empty"
	done
	[ -d "$d/tokens" ] || fail "$kt: tokens/ missing"
	[ "$(mode "$d/pin")" = 600 ] || fail "$kt: pin is $(mode "$d/pin")"
	[ "$(mode "$d/so-pin")" = 600 ] ||
	    fail "$kt: so-pin is $(mode "$d/so-pin")"
	[ "$(head -n 1 "$d/pin" | wc -c)" -ge 17 ] ||
	    fail "$kt: user PIN shorter than 16 characters"
	cmp -s "$d/pin" "$d/so-pin" && fail "$kt: user PIN equals SO PIN"

	# Paths in carimbo.conf relative to the state (it can be moved).
	for kv in "softhsm2_conf = softhsm2.conf" "pin_file = pin" \
	    "tsa_chain = tsa-chain.pem" "root_cert = root.pem" \
	    "serial_file = serials" "token_label = carimbo" \
	    "key_label = tsa" "listen = 127.0.0.1:8318" \
	    "clock_mode = demo"; do
		grep -qx "$kv" "$d/carimbo.conf" ||
		    fail "$kt: carimbo.conf lacks \"$kv\""
	done
	grep -q "^directories.tokendir = /" "$d/softhsm2.conf" ||
	    fail "$kt: softhsm2.conf tokendir not absolute"

	# Only keys the server knows (it refuses unknown ones).
	src=$(dirname "$0")/../../conf/carimbo.conf
	for k in $(sed -n 's/^\([a-z_0-9]*\) =.*/\1/p' "$d/carimbo.conf"); do
		grep -q "^$k = " "$src" || fail "$kt: carimbo.conf key $k unknown"
	done

	out=$(openssl verify -CAfile "$d/root.pem" -untrusted \
	    "$d/tsa-chain.pem" "$d/tsa-chain.pem" 2>&1)
	[ "$out" = "$d/tsa-chain.pem: OK" ] || fail "$kt: verify: $out"

	# RFC 3161 certReq: the TSA, then the TSA-issuing CA; no root.
	[ "$(grep -c "BEGIN CERTIFICATE" "$d/tsa-chain.pem")" = 2 ] ||
	    fail "$kt: tsa-chain.pem is not two certificates"
	subj=$(awk '/BEGIN/ { n++ } n == 2' "$d/tsa-chain.pem" |
	    openssl x509 -noout -subject 2>&1)
	[ "$subj" = "subject=C = PT, O = carimbo demo, CN = carimbo demo TSA CA" ] ||
	    fail "$kt: second in tsa-chain.pem is $subj"
	openssl x509 -inform DER -in "$d/ca/pub/ca/root.crt" | cmp -s - \
	    "$d/root.pem" || fail "$kt: pub/ca/root.crt is not root.pem"
	crl=$(openssl crl -inform DER -in "$d/ca/pub/crl/tsa.crl" -noout \
	    -text 2>&1)
	printf '%s\n' "$crl" | grep -q "No Revoked Certificates" ||
	    fail "$kt: first TSA CA CRL is not empty"
	tsa=$(openssl x509 -in "$d/tsa-chain.pem" -noout -text) ||
	    fail "$kt: openssl x509 tsa-chain.pem"
	# The EKU line and the one after it: critical, Time Stamping only.
	eku=$(printf '%s\n' "$tsa" | awk '
	    /X509v3 Extended Key Usage:/ { hdr = $0; getline; val = $0 }
	    END { gsub(/^ +/, "", hdr); gsub(/^ +| +$/, "", val);
		print hdr "|" val }')
	[ "$eku" = "X509v3 Extended Key Usage: critical|Time Stamping" ] ||
	    fail "$kt: TSA extendedKeyUsage is \"$eku\""
	printf '%s\n' "$tsa" | grep -A1 "Key Usage: critical" |
	    grep -qx " *Digital Signature" ||
	    fail "$kt: TSA keyUsage not critical digitalSignature only"
	printf '%s\n' "$tsa" | grep -A1 "Basic Constraints" |
	    grep -qx " *CA:FALSE" || fail "$kt: TSA basicConstraints"
	printf '%s\n' "$tsa" | grep -q "Authority Key Identifier" ||
	    fail "$kt: TSA AKI missing"
	printf '%s\n' "$tsa" |
	    grep -q "URI:http://127.0.0.1:8318/crl/tsa.crl" ||
	    fail "$kt: TSA CRL distribution point"
	printf '%s\n' "$tsa" |
	    grep -q "CA Issuers - URI:http://127.0.0.1:8318/ca/tsa.crt" ||
	    fail "$kt: TSA AIA caIssuers"
	printf '%s\n' "$tsa" | grep -q "Subject: C = PT, O = carimbo demo, CN = carimbo demo TSU 1, serialNumber = 1" ||
	    fail "$kt: TSA subject"
	root=$(openssl x509 -in "$d/root.pem" -noout -text)
	printf '%s\n' "$root" | grep -A1 "Basic Constraints: critical" |
	    grep -qx " *CA:TRUE" || fail "$kt: root basicConstraints"
	printf '%s\n' "$root" | grep -A1 "Key Usage: critical" |
	    grep -qx " *Certificate Sign, CRL Sign" || fail "$kt: root keyUsage"
	printf '%s\n' "$root" | grep -q "Subject Key Identifier" ||
	    fail "$kt: root SKI missing"
	# 128-bit serial: 16 or 17 content bytes (a leading 00 if the top
	# bit is set); RFC 5280 allows up to 20.
	sn=$(openssl x509 -in "$d/tsa-chain.pem" -noout -serial | cut -d= -f2)
	[ ${#sn} -ge 30 ] && [ ${#sn} -le 34 ] ||
	    fail "$kt: serial $sn is not 128 bits"

	case $kt in
	ec-p256) want="Public-Key: (256 bit)";;
	ec-p384) want="Public-Key: (384 bit)";;
	rsa-2048) want="Public-Key: (2048 bit)";;
	esac
	printf '%s\n' "$tsa" | grep -q "$want" || fail "$kt: TSA key is not $kt"

	check_token "$d" "$kt"
	[ "$fails" -eq 0 ] && ok "$kt state"
}

# check_token DIR KEYTYPE: private keys of the three CAs and the TSA on
# the token,
# sensitive and never extractable.
check_token() {
	d=$1 kt=$2
	if command -v pkcs11-tool >/dev/null; then
		objs=$(SOFTHSM2_CONF="$d/softhsm2.conf" pkcs11-tool \
		    --module "$MODULE" --token-label carimbo --login \
		    --pin "$(head -n 1 "$d/pin")" -O 2>&1) ||
		    fail "$kt: pkcs11-tool -O: $objs"
		for l in root tsa-ca user-ca tsa; do
			blk=$(printf '%s\n' "$objs" | awk -v l="$l" '
			    /^[A-Z][a-z]+ Key Object/ { p = /^Private/; inl = 0 }
			    p && /label:/ { inl = ($2 == l) }
			    p && inl { print }')
			[ -n "$blk" ] || fail "$kt: no private key \"$l\""
			printf '%s\n' "$blk" | grep -q "never extractable" ||
			    fail "$kt: private key \"$l\" is extractable"
			printf '%s\n' "$blk" | grep -q "Access:.*sensitive" ||
			    fail "$kt: private key \"$l\" not sensitive"
			printf '%s\n' "$blk" | grep -qx " *Usage: *sign" ||
			    fail "$kt: private key \"$l\" not for signing only"
		done
	else
		fail "$kt: no pkcs11-tool (Debian opensc, in make deps): the" \
		    "keys' attributes (never extractable) are unchecked"
		SOFTHSM2_CONF="$d/softhsm2.conf" softhsm2-util --show-slots |
		    grep -q "Label: *carimbo" || fail "$kt: no token carimbo"
	fi
}

# check_last DIR KEYTYPE: no file of a fresh state is newer than
# carimbo.conf (file times are coarse: this catches a later write that
# crossed a clock tick; the strace check below sees every one).
check_last() {
	newer=$(find "$1" -type f -newer "$1/carimbo.conf")
	[ -z "$newer" ] || fail "$2: written after carimbo.conf: $newer"
}

# check_half DIR WHAT WANT...: DIR is an init cut short by WHAT: no
# carimbo.conf, init refuses it naming each WANT and --force, the server
# finds no config.
check_half() {
	d=$1 what=$2
	shift 2
	if [ -e "$d/carimbo.conf" ]; then
		fail "$what: carimbo.conf written"
		return
	fi
	if out=$("$CARIMBO" init --demo "$d" 2>&1); then
		fail "$what: init went on from an unfinished state"
		return
	fi
	printf '%s\n' "$out" | grep -q "did not finish" ||
	    fail "$what: refusal does not say the init did not finish: $out"
	printf '%s\n' "$out" | grep -q -- "--force" ||
	    fail "$what: refusal does not name --force: $out"
	for w in "$@"; do
		printf '%s\n' "$out" | grep -q "found.*$w" ||
		    fail "$what: refusal does not name $w: $out"
	done
	[ -e "$d/carimbo.conf" ] && fail "$what: the refusal wrote carimbo.conf"
	if out=$(timeout 20 "$CARIMBO" serve -c "$d/carimbo.conf" 2>&1); then
		fail "$what: serve ran from an unfinished state"
	else
		printf '%s\n' "$out" | grep -q "carimbo.conf" ||
		    fail "$what: serve's error does not name carimbo.conf: $out"
		printf '%s\n' "$out" | grep -q -- "init was interrupted.*--force" ||
		    fail "$what: serve's error does not point at init --force: $out"
	fi
}

S=$T/state
out=$("$CARIMBO" init --demo "$S" 2>&1) || fail "init --demo: $out"
check_last "$S" ec-p256
check_state "$S" ec-p256

# A second init without --force fails and touches nothing.
before=$(cd "$S" && cat carimbo.conf pin so-pin root.pem tsa-chain.pem \
    ca/ca.db | cksum)
if out=$("$CARIMBO" init --demo "$S" 2>&1); then
	fail "second init without --force succeeded"
else
	echo "$out" | grep -q "force" || fail "refusal does not say why: $out"
fi
after=$(cd "$S" && cat carimbo.conf pin so-pin root.pem tsa-chain.pem \
    ca/ca.db | cksum)
[ "$before" = "$after" ] || fail "refused init changed the state"
[ "$(ls "$S/tokens" | wc -l)" = 1 ] || fail "refused init added a token"

# --force starts over: new keys, one token.
out=$("$CARIMBO" init --demo "$S" --force 2>&1) || fail "--force: $out"
after=$(cd "$S" && cat root.pem | cksum)
[ "$before" != "$after" ] || fail "--force kept the old certificates"
[ "$(ls "$S/tokens" | wc -l)" = 1 ] || fail "--force left the old token"

for kt in rsa-2048 ec-p384; do
	out=$("$CARIMBO" init --demo "$T/$kt" --key-type "$kt" 2>&1) ||
	    fail "init --key-type $kt: $out"
	check_last "$T/$kt" "$kt"
	check_state "$T/$kt" "$kt"
done

grep -qx "sign_digest = sha384" "$T/ec-p384/carimbo.conf" ||
    fail "ec-p384: sign_digest is not sha384"
grep -qx "sign_digest = sha256" "$T/rsa-2048/carimbo.conf" ||
    fail "rsa-2048: sign_digest is not sha256"

"$CARIMBO" init --demo "$T/bad" --key-type ec-p521 >/dev/null 2>&1 &&
    fail "an unknown key type was accepted"

# Cut short at the token: the module does not load.
"$CARIMBO" init --demo "$T/nomodule" --module "$T/no-such-module.so" \
    >/dev/null 2>&1 && fail "init with a missing module succeeded"
check_half "$T/nomodule" "missing module" softhsm2.conf

# Killed in the CA: the database outgrows a file size limit (SIGXFSZ).
# --force then starts over and makes a whole state.
sh -c 'ulimit -f 16; exec "$0" init --demo "$1"' "$CARIMBO" "$T/killed" \
    >/dev/null 2>&1
[ $? -gt 128 ] || fail "init under ulimit -f 16 was not killed"
check_half "$T/killed" "killed" "tokens/" "pin" "ca/"
out=$("$CARIMBO" init --demo "$T/killed" --force 2>&1) ||
    fail "--force after a killed init: $out"
check_state "$T/killed" ec-p256

if command -v strace >/dev/null; then
	# LeakSanitizer stops with an error under ptrace (SAN=1 builds).
	noleak=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
	# Every write in order: the state made durable (syncfs), then
	# carimbo.conf, then nothing.
	d=$T/order
	ASAN_OPTIONS=$noleak strace -f -qq -o "$T/order.trace" \
	    -e signal=none -e \
	    trace=openat,rename,renameat,renameat2,unlink,unlinkat,mkdir,syncfs \
	    "$CARIMBO" init --demo "$d" >/dev/null 2>&1 ||
	    fail "init under strace"
	w=$(grep -E "O_WRONLY|O_RDWR|O_CREAT|rename|unlink|mkdir|syncfs" \
	    "$T/order.trace" | grep -v ENOENT | grep -E "$d|syncfs" |
	    tail -n 3 | sed -E 's/^[0-9]+ +//')
	printf '%s\n' "$w" | sed -n 1p | grep -q "^syncfs(" &&
	    printf '%s\n' "$w" | sed -n 2p |
	    grep -q "^openat(.*\"$d/carimbo.conf.tmp\"" &&
	    printf '%s\n' "$w" | sed -n 3p |
	    grep -Eq "^rename(at2?)?\(.*\"$d/carimbo.conf\"(, [0-9A-Z_]+)?\) = 0" ||
	    fail "init's last writes are not syncfs, then carimbo.conf: $w"

	# Cut short at the clock's seal key, the step before carimbo.conf.
	d=$T/noseal
	ASAN_OPTIONS=$noleak strace -f -qq -o /dev/null \
	    -P "$d/clock-seal.key.tmp" -e trace=openat \
	    -e inject=openat:error=EACCES \
	    "$CARIMBO" init --demo "$d" >/dev/null 2>&1 &&
	    fail "init succeeded without its seal key"
	[ -e "$d/clock-seal.key" ] && fail "seal key written despite the fault"
	check_half "$d" "no seal key" "ca/" "root.pem" "tsa-chain.pem"
else
	echo "note: no strace; init's order is checked by file times only"
fi

# The state serves bench --hsm: signatures, no errors.
out=$("$CARIMBO" bench --hsm -c "$S/carimbo.conf" --threads 2 \
    --duration 0.3 --json "$T/hsm.json" 2>&1) || fail "bench --hsm: $out"
grep -q '"errors": 0' "$T/hsm.json" 2>/dev/null ||
    fail "bench --hsm json: $(cat "$T/hsm.json" 2>/dev/null)"
grep -q '"threads": 2' "$T/hsm.json" 2>/dev/null ||
    fail "bench --hsm json lacks threads"
# Signing as the server does (key_session_copy = yes): on session copies.
grep -q '"key_session_copies": 2,' "$T/hsm.json" 2>/dev/null ||
    fail "bench --hsm did not sign with session copies"
"$CARIMBO" bench --hsm -c "$S/carimbo.conf" --duration 0.2 --key-copy no \
    --json "$T/hsm.json" >/dev/null 2>&1 || fail "bench --hsm --key-copy no"
grep -q '"key_session_copies": 0,' "$T/hsm.json" 2>/dev/null ||
    fail "bench --hsm --key-copy no used a session copy"
"$CARIMBO" bench --http >/dev/null 2>&1
[ $? -eq 2 ] || fail "bench without --hsm does not exit 2"

if [ "$fails" -ne 0 ]; then
	echo "init.sh: $fails check(s) failed"
	exit 1
fi
echo "init.sh: all checks passed"
