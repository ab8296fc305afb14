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
import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(
    __file__)), "lib"))
import edge  # noqa: E402  (the units and the edge, doc/scale-out.md)

CARIMBO = edge.CARIMBO
TMP = tempfile.mkdtemp(prefix="carimbo-haproxy-")
failures = []
T0 = time.monotonic()


def check(cond, what):
    if not cond:
        failures.append(what)
        print("  FAIL:", what, flush=True)


run = edge.run
E = edge.Edge(TMP, check)
C1, ROOT, UNTRUSTED = E.c1, E.root, E.untrusted
PH, PT = E.ph, E.pt
GOOD, REVOKED, OTHER = E.good, E.revoked, E.other
units, start_unit, stats, wait_status = (E.units, E.start_unit, E.stats,
                                         E.wait_status)
start_unit(1)
start_unit(2)
hap = E.start_haproxy()
HLOG = E.hlog


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
    E.stop()


# --- every answer proven in its unit's ledger ---------------------------------
items, serial_of = edge.items, edge.serial_of


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
