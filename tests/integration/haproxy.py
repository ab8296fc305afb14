#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# Two units behind HAProxy (conf/haproxy.cfg as shipped, doc/scale-out.md),
# all on loopback ports:
#
#   units     unit 1 is `carimbo init --demo`; unit 2's key is made on the
#             token by `carimbo ca issue --keygen-on-token` and certified
#             by unit 1's TSA CA, and its state is a copy (its own ledger,
#             serials and unit id 2; the demo's copied token holds both
#             keys, a real unit 2 has its own token).  Both have proxy_from
#             = 127.0.0.2 (HAProxy's source address) and stop_notice_seconds,
#             and witness each other (their fetches, from 127.0.0.1, carry
#             no PROXY header).
#   load      `carimbo bench` through HAProxy on / and /ers, plain and
#             over TLS (the edge's certificate checked against its CA and
#             the address, a client certificate of carimbo's user CA
#             shown, and on / also none); every answer is checked by bench
#             (a share fully verified), saved and proven with `carimbo
#             ledger prove L1 L2 --batch` in the ledger of the unit its
#             serial names (RFC 3161 2.4.2: the unit id above a 64-bit
#             counter); `ledger verify L1 L2` finds no serial in both (and
#             one ledger given twice fails); no token serial repeats (read
#             here too); both units answered, and each ledger holds what
#             its clients got, bar what was in flight on the killed unit.
#   edge      a client certificate of carimbo's user CA is served; one
#             revoked (in the CRL) and one of another CA are refused in
#             the handshake; none at all is served (verify optional).
#   kill -9   unit 2 killed under load: the stats page says it is DOWN
#             within the checks' interval times fall; bench's errors are
#             at most its connections (only what was in flight there);
#             unit 2 restarted comes back UP and answers again.
#   SIGTERM   unit 1 stopped with its notice: HAProxy takes it out while
#             it still serves (/health 503 draining), and a bench running
#             through sees no error at all.
#
# Bounded: about half a minute.
import csv
import http.client
import io
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

CARIMBO = os.environ.get("CARIMBO", "build/carimbo")
HERE = os.path.dirname(os.path.abspath(__file__))
HAPROXY_CFG = os.path.join(HERE, "..", "..", "conf", "haproxy.cfg")
TMP = tempfile.mkdtemp(prefix="carimbo-haproxy-")
failures = []
T0 = time.monotonic()


def check(cond, what):
    if not cond:
        failures.append(what)
        print("  FAIL:", what, flush=True)


def run(*args, **kw):
    return subprocess.run(list(args), check=True, capture_output=True,
                          timeout=120, **kw)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


if shutil.which("haproxy") is None:
    print("haproxy.py: no haproxy (make deps installs it)")
    sys.exit(1)

# --- the units -------------------------------------------------------------
S1, S2 = os.path.join(TMP, "unit1"), os.path.join(TMP, "unit2")
C1, C2 = os.path.join(S1, "carimbo.conf"), os.path.join(S2, "carimbo.conf")
run(CARIMBO, "init", "--demo", S1)
run(CARIMBO, "ca", "issue", "-c", C1, "--profile", "tsa", "--unit-id", "2",
    "--keygen-on-token", "--key-label", "tsa2", "--subject",
    "/C=PT/O=carimbo demo/CN=carimbo demo TSU 2", "--out",
    os.path.join(S1, "tsa2.pem"))
shutil.copytree(S1, S2, symlinks=True)
with open(os.path.join(S1, "tsa-chain.pem")) as f:
    chain1 = f.read()
tsa_ca = chain1[chain1.index("-----END CERTIFICATE-----") + 26:]
with open(os.path.join(S2, "tsa2-chain.pem"), "w") as f:
    f.write(open(os.path.join(S1, "tsa2.pem")).read() + tsa_ca)
UNTRUSTED = os.path.join(TMP, "untrusted.pem")
with open(UNTRUSTED, "w") as f:
    f.write(chain1 + open(os.path.join(S2, "tsa2-chain.pem")).read())
ROOT = os.path.join(S1, "root.pem")
P1, P2, PH, PT, PS = (free_port() for _ in range(5))
COMMON = ("\nproxy_from = 127.0.0.2\nstop_notice_seconds = 3\n"
          "anchor_seconds = 1\nwitness_seconds = 1\n")
with open(C1, "a") as f:
    f.write(COMMON + "witness = http://127.0.0.1:%d\n" % P2)
with open(C2, "a") as f:
    f.write(COMMON + "witness = http://127.0.0.1:%d\n" % P1 +
            "unit_id = 2\nkey_label = tsa2\ntsa_chain = tsa2-chain.pem\n")

units = {}


def start_unit(n):
    conf, port = (C1, P1) if n == 1 else (C2, P2)
    p = subprocess.Popen([CARIMBO, "serve", "-c", conf, "--listen",
                          "127.0.0.1:%d" % port], stdout=subprocess.PIPE,
                         stderr=open(os.path.join(TMP, "unit%d.log" % n),
                                     "ab"))
    line = p.stdout.readline().decode()
    check(line.startswith("listening on"), "unit %d: %r" % (n, line))
    units[n] = p


# --- the edge: TLS certificate, client CA, CRLs, client certificates --------
TLS = os.path.join(TMP, "tls.pem")
run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
    "-keyout", os.path.join(TMP, "tls.key"), "-out",
    os.path.join(TMP, "tls.crt"))
with open(TLS, "w") as f:
    f.write(open(os.path.join(TMP, "tls.crt")).read() +
            open(os.path.join(TMP, "tls.key")).read())
CLIENT_CA = os.path.join(TMP, "client-ca.pem")
run(CARIMBO, "ca", "export-chain", "-c", C1, "--issuer", "user", "--out",
    CLIENT_CA)
if open(ROOT).read() not in open(CLIENT_CA).read():
    with open(CLIENT_CA, "a") as f:
        f.write(open(ROOT).read())


def client_cert(name, issuer_conf=C1):
    key = os.path.join(TMP, name + ".key")
    csr = os.path.join(TMP, name + ".csr")
    crt = os.path.join(TMP, name + ".crt")
    run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:P-256", "-nodes", "-subj",
        "/C=PT/CN=e-service %s" % name, "-keyout", key, "-out", csr)
    out = run(CARIMBO, "ca", "issue", "-c", issuer_conf, "--profile",
              "normalised", "--csr", csr, "--out", crt).stdout.decode()
    return crt, key, out.split()[0]


GOOD = client_cert("good")
REVOKED = client_cert("revoked")
run(CARIMBO, "ca", "revoke", "-c", C1, REVOKED[2], "--reason",
    "keyCompromise")
CRL = os.path.join(TMP, "crl.pem")
with open(CRL, "w") as f:
    for who in ("user", "root"):
        out = os.path.join(TMP, who + ".crl")
        run(CARIMBO, "ca", "crl", "-c", C1, "--issuer", who, "--out", out,
            "--pem")
        f.write(open(out).read())
# Another CA altogether: its own self-signed root and a client under it.
OTHER = (os.path.join(TMP, "other.crt"), os.path.join(TMP, "other.key"))
run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
    "/C=PT/CN=e-service other", "-keyout", OTHER[1], "-out", OTHER[0])

# --- HAProxy -----------------------------------------------------------------
start_unit(1)
start_unit(2)
env = dict(os.environ, CARIMBO_UNIT1="127.0.0.1:%d" % P1,
           CARIMBO_UNIT2="127.0.0.1:%d" % P2,
           CARIMBO_HTTP_BIND="127.0.0.1:%d" % PH,
           CARIMBO_TLS_BIND="127.0.0.1:%d" % PT, CARIMBO_TLS_CRT=TLS,
           CARIMBO_CLIENT_CA=CLIENT_CA, CARIMBO_CLIENT_CRL=CRL,
           CARIMBO_STATS_BIND="127.0.0.1:%d" % PS, CARIMBO_LOG="stdout",
           CARIMBO_SOURCE="127.0.0.2")
HLOG = os.path.join(TMP, "haproxy.log")
hap = subprocess.Popen(["haproxy", "-db", "-f", HAPROXY_CFG], env=env,
                       stdout=open(HLOG, "wb"), stderr=subprocess.STDOUT)


def stats():
    """{server: status} from the stats page's CSV."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/;csv" % PS,
                                    timeout=2) as r:
            text = r.read().decode().lstrip("# ")
    except OSError:
        return {}
    return {row["svname"]: row["status"] for row in
            csv.DictReader(io.StringIO(text)) if row["pxname"] == "units"}


def wait_status(server, want, secs):
    """Seconds until server's status starts with want, or None."""
    t = time.monotonic()
    while time.monotonic() - t < secs:
        if stats().get(server, "").startswith(want):
            return time.monotonic() - t
        time.sleep(0.1)
    return None


# Each run's answers in a file of its own (bench --save rewrites its file).
SAVED = {"tok": [], "ers": []}


def saved(kind, name):
    f = os.path.join(TMP, "%s-%s.der" % (kind, name))
    SAVED[kind].append(f)
    return f


def bench_args(path, extra, name, tls=None):
    """
    bench through HAProxy, its answers saved; and its JSON's path.  With
    tls (a client certificate and key, or ()), over TLS.
    """
    js = os.path.join(TMP, name + ".json")
    url = "http://127.0.0.1:%d%s" % (PH, path)
    if tls is not None:
        url = "https://127.0.0.1:%d%s" % (PT, path)
        extra = extra + ["--cacert", os.path.join(TMP, "tls.crt")]
        if tls:
            extra = extra + ["--cert", tls[0], "--key", tls[1]]
    return [CARIMBO, "bench", "--url", url, "--ca", ROOT, "--untrusted", UNTRUSTED, "--quiet", "--json", js,
            "--save", saved("ers" if path == "/ers" else "tok", name)] + \
        extra, js


def bench_json(js):
    try:
        with open(js) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def bench(path, extra, name, tls=None):
    args, js = bench_args(path, extra, name, tls)
    p = subprocess.run(args, capture_output=True, timeout=60)
    return p, bench_json(js)


def bench_start(name, conns, secs):
    args, js = bench_args("/", ["--connections", str(conns), "--duration",
                                str(secs)], name)
    return subprocess.Popen(args, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL), js


def bench_ok(p, j):
    return (p.returncode, j.get("errors"), j.get("result", {}).get("ok"))


try:
    time.sleep(0.3)
    check(hap.poll() is None, "haproxy did not start")
    for n in ("unit1", "unit2"):
        check(wait_status(n, "UP", 10) is not None,
              "%s not UP: %s" % (n, stats()))

    # Plain, through HAProxy: / and /ers.
    p, j = bench("/", ["--connections", "8", "--requests", "2000"], "plain")
    check(p.returncode == 0 and j.get("errors") == 0 and
          j["result"]["ok"] == 2000, "bench / through HAProxy: %s %s" % (
              bench_ok(p, j), p.stderr.decode()[-500:]))
    rate_plain = j.get("result", {}).get("requests_per_second", 0)
    p, j = bench("/ers", ["--connections", "8", "--requests", "1000"],
                 "ers")
    check(p.returncode == 0 and j.get("errors") == 0 and
          j["result"]["ok"] == 1000, "bench /ers through HAProxy: %s %s" % (
              bench_ok(p, j), p.stderr.decode()[-500:]))

    # TLS, through HAProxy: with a client certificate of the user CA on
    # / and /ers, and with none on / (the edge's verify is optional).
    rate_tls = 0
    for path, n, cert, name in (("/", 2000, GOOD, "tls"),
                                ("/ers", 1000, GOOD, "tls-ers"),
                                ("/", 500, (), "tls-anon")):
        p, j = bench(path, ["--connections", "8", "--requests", str(n)],
                     name, tls=cert)
        check(p.returncode == 0 and j.get("errors") == 0 and
              j["result"]["ok"] == n and j["result"]["verified"] > 0 and
              (j.get("tls") or "").startswith("TLSv1.3 "),
              "bench %s over TLS through HAProxy%s: %s %s %s" % (
                  path, "" if cert else " without a client certificate",
                  bench_ok(p, j), j.get("tls"), p.stderr.decode()[-500:]))
        if name == "tls":
            rate_tls = j.get("result", {}).get("requests_per_second", 0)

    # Refused at the edge: a revoked client certificate, one of another CA.
    tsq = os.path.join(TMP, "q.tsq")
    run("openssl", "ts", "-query", "-data", C1, "-sha256", "-cert",
        "-out", tsq)
    body = open(tsq, "rb").read()

    def tls_conn(cert=None):
        ctx = ssl.create_default_context(cafile=os.path.join(TMP,
                                                              "tls.crt"))
        if cert is not None:
            ctx.load_cert_chain(cert[0], cert[1])
        return http.client.HTTPSConnection("127.0.0.1", PT, context=ctx,
                                           timeout=10)

    def tls_post(c):
        c.request("POST", "/", body, {"Content-Type":
                                      "application/timestamp-query"})
        r = c.getresponse()
        return r.status, r.read()

    # The handshake fails: with its alert (RFC 8446 6.2), or, as HAProxy
    # does at times, a close without one; never an answer.
    for what, cert, alert in (("revoked", REVOKED, "certificate revoked"),
                              ("of another CA", OTHER, "unknown ca")):
        try:
            st, _ = tls_post(tls_conn(cert))
            check(False, "a client certificate %s served: %d" % (what, st))
        except (ssl.SSLError, ConnectionError) as e:
            check(alert in str(e) or isinstance(e, (ssl.SSLEOFError,
                                                    ConnectionError)),
                  "a client certificate %s: %r, want the alert %r" % (
                      what, e, alert))

    # kill -9 unit 2 under load.
    conns = 8
    bp, js = bench_start("kill", conns, 4)
    time.sleep(1.5)
    units[2].kill()
    units[2].wait()
    down = wait_status("unit2", "DOWN", 5)
    check(down is not None and down < 3.5,
          "unit 2 not taken out after kill -9: %s" % stats())
    start_unit(2)
    up = wait_status("unit2", "UP", 8)
    check(up is not None, "unit 2 not back in rotation: %s" % stats())
    bp.wait(30)
    jk = bench_json(js)
    killed_errors = jk.get("errors")
    check(jk.get("result", {}).get("ok", 0) > 0 and killed_errors is not None and
          killed_errors <= conns,
          "kill -9: %s errors (at most %d in flight there), %s ok" % (
              killed_errors, conns, jk.get("result")))
    # Back in rotation: it answers again.
    p, j = bench("/", ["--connections", "8", "--requests", "500"], "after")
    check(p.returncode == 0 and j.get("errors") == 0,
          "bench after the restart: %s" % (bench_ok(p, j),))

    # SIGTERM unit 1 with its notice, under load: no error at all.
    bp, js = bench_start("term", conns, 4)
    time.sleep(1)
    units[1].send_signal(signal.SIGTERM)
    out = wait_status("unit1", "DOWN", 4)
    check(out is not None, "unit 1 not taken out while draining: %s" %
          stats())
    check(units[1].wait(10) == 0, "unit 1 did not stop cleanly")
    bp.wait(30)
    jt = bench_json(js)
    check(jt.get("errors") == 0 and jt.get("result", {}).get("ok", 0) > 0,
          "SIGTERM with a notice: %s" % jt.get("result"))
finally:
    for p in list(units.values()) + [hap]:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in list(units.values()) + [hap]:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()


# --- every answer proven in its unit's ledger ---------------------------------
def der_len(b, i):
    """(length, offset of the content) of the DER item whose tag is at i."""
    n = b[i + 1]
    if n < 0x80:
        return n, i + 2
    k = n & 0x7f
    return int.from_bytes(b[i + 2:i + 2 + k], "big"), i + 2 + k


def items(b):
    i = 0
    while i < len(b):
        n, o = der_len(b, i)
        yield b[i:o + n]
        i = o + n


TSTINFO_OID = bytes.fromhex("060b2a864886f70d0109100104")


def serial_of(item):
    """The serial of the (first) TSTInfo inside item."""
    i = item.index(TSTINFO_OID) + len(TSTINFO_OID)
    _, i = der_len(item, i)             # [0] EXPLICIT
    _, i = der_len(item, i)             # OCTET STRING
    _, i = der_len(item, i)             # TSTInfo SEQUENCE
    for _ in range(3):                  # version, policy, messageImprint
        n, o = der_len(item, i)
        i = o + n
    n, o = der_len(item, i)             # serialNumber
    return int.from_bytes(item[o:o + n], "big")


seen, per_unit = set(), {}
repeats = 0
for kind in ("tok", "ers"):
    data = b"".join(open(f, "rb").read() for f in SAVED[kind]
                    if os.path.exists(f))
    for it in items(data):
        s = serial_of(it)
        u = s >> 64
        per_unit.setdefault((kind, u), []).append(it)
        if kind == "tok":
            repeats += s in seen
            seen.add(s)
check(repeats == 0, "%d token serials repeat" % repeats)
check(set(u for _, u in per_unit) == {1, 2},
      "answers by unit: %s" % {k: len(v) for k, v in per_unit.items()})
# The audit across units: both ledgers sound, no serial in both, every
# answer of both kinds in the ledger of the unit its serial names.
L1, L2 = (os.path.join(TMP, "unit%d" % u, "ledger") for u in (1, 2))


# Every token's signature and chain is checked by OpenSSL, thousands of
# them: under AddressSanitizer that takes minutes, not seconds.
LEDGER_TIMEOUT = 900 if b"__asan_init" in open(CARIMBO, "rb").read() else 120


def ledger(*args):
    p = subprocess.run([CARIMBO, "ledger"] + list(args), capture_output=True,
                       timeout=LEDGER_TIMEOUT)
    return p.returncode, p.stdout.decode()


rc, out = ledger("verify", L1, L2, "--ca", ROOT, "--untrusted", UNTRUSTED)
m = re.search(r"witnessed heads: (\d+) agree with the witnessed units' "
              r"ledgers, 0 do not", out)
check(rc == 0 and "2 ledgers of 2 units: every chain sound, serials unique "
      "across them" in out and m and int(m.group(1)) > 0,
      "ledger verify across the units: %s" % out[-400:])
rc, out = ledger("verify", L1, L1 + "/", L2)
check(rc == 1 and "are both unit 1's ledgers" in out,
      "one unit's ledger twice: %s" % out[-300:])
proven = {}
for kind in ("tok", "ers"):
    f = os.path.join(TMP, "all-%s.der" % kind)
    its = [it for (k, _), v in sorted(per_unit.items()) if k == kind
           for it in v]
    with open(f, "wb") as out:
        out.write(b"".join(its))
    flag = "--token" if kind == "tok" else "--er"
    rc, out = ledger("prove", L1, L2, "--batch", flag, f, "--ca", ROOT,
                     "--untrusted", UNTRUSTED)
    proven[kind] = len(its)
    check(rc == 0 and "%d of %d %s in the ledger, 0 not" % (
        len(its), len(its), "tokens" if kind == "tok" else
        "evidence records") in out, "prove %s across the units: %s" % (
            kind, out[-300:]))
    # Unit 2's answers are not in unit 1's ledger.
    f2 = os.path.join(TMP, "unit2-%s.der" % kind)
    with open(f2, "wb") as out:
        out.write(b"".join(per_unit.get((kind, 2), [])))
    rc, out = ledger("prove", L1, "--batch", flag, f2)
    n2 = len(per_unit.get((kind, 2), []))
    check(rc == 1 and "0 of %d " % n2 in out, "unit 2's %s in unit 1's "
          "ledger: %s" % (kind, out[-200:]))

# Against the ledgers: unit 1 stopped cleanly, so it holds exactly the
# tokens its clients got; unit 2 holds those and at most the requests that
# were in flight on it when it was killed (stamped, never delivered).
held = {}
for u in (1, 2):
    p = subprocess.run([CARIMBO, "ledger", "verify",
                        os.path.join(TMP, "unit%d" % u, "ledger")],
                       capture_output=True, timeout=60)
    m = re.search(r"covered\s+(\d+) /ers requests, (\d+) standard tokens",
                  p.stdout.decode())
    held[u] = (int(m.group(1)), int(m.group(2))) if m else (-1, -1)
    check(p.returncode == 0, "ledger verify unit %d: %s" % (
        u, p.stdout.decode()[-300:]))
got = {u: (len(per_unit.get(("ers", u), [])),
           len(per_unit.get(("tok", u), []))) for u in (1, 2)}
check(held[1] == got[1], "unit 1's ledger holds %s (/ers, tokens), its "
      "clients got %s" % (held[1], got[1]))
lost = held[2][1] - got[2][1]
check(held[2][0] == got[2][0] and 0 <= lost <= (killed_errors or 0),
      "unit 2's ledger holds %s, its clients got %s: %d tokens not "
      "delivered, %s errors seen" % (held[2], got[2], lost, killed_errors))

took = time.monotonic() - T0
print("haproxy: plain %.0f req/s, TLS %.0f req/s (8 connections); proven "
      "%s; kill -9: %s errors, %d stamped and not delivered, DOWN after %s "
      "s, UP again after %s s; %.1f s" % (rate_plain, rate_tls, dict(proven, **{"%s/unit%d" % k: len(v) for
                                              k, v in per_unit.items()}),
                  killed_errors, lost,
                  down and round(down, 1), up and round(up, 1), took))
if failures:
    print(open(HLOG, errors="replace").read()[-2000:])
    print("%d failures" % len(failures))
    sys.exit(1)
shutil.rmtree(TMP)
print("haproxy: ok")
