#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# admin_listen (doc/carimbo.conf.5): a demo server with a public and an
# admin listener on loopback.  The public one stamps, answers /health
# with {"status":"ok"} and nothing more, and /metrics with 404; the admin
# one answers /health in full, /metrics, and 404 to a time-stamp request.
# The exposition is parsed by a small parser of the text format 0.0.4
# (every sample line, TYPE before samples, histograms cumulative with
# +Inf equal to _count), and its counts must match what was sent: 7
# requests to / and 5 to /ers, one round each, a signature each (and
# one per /ers round).  carimbo_build_info names the version --version
# prints.  Then a unit in strict mode with no reachable clock source:
# the public /health is 503 {"status":"unavailable","reason":"clock"},
# without the source's address, which the admin /health names.
import http.client
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

CARIMBO = os.environ.get("CARIMBO", "build/carimbo")
TMP = tempfile.mkdtemp(prefix="carimbo-admin-")
STATE = os.path.join(TMP, "state")
CONF = os.path.join(STATE, "carimbo.conf")
N_TOKENS, N_ERS = 7, 5
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("  FAIL:", what, flush=True)


def get(port, path, method="GET", body=None, ctype=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": ctype} if ctype else {}
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? '
                    r'(-?[0-9.eE+-]+|\+Inf|-Inf|NaN)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """Prometheus text format 0.0.4: {(name, labels): value}, types."""
    samples, types = {}, {}
    for ln, line in enumerate(text.split("\n"), 1):
        if line == "":
            continue
        if line.startswith("#"):
            f = line.split(None, 3)
            if len(f) >= 3 and f[1] == "TYPE":
                check(f[2] not in types, "line %d: TYPE %s twice" %
                      (ln, f[2]))
                check(len(f) == 4 and f[3] in ("counter", "gauge",
                      "histogram", "summary", "untyped"),
                      "line %d: %r" % (ln, line))
                types[f[2]] = f[3]
            continue
        m = SAMPLE.match(line)
        check(m is not None, "line %d does not parse: %r" % (ln, line))
        if m is None:
            continue
        name, labels = m.group(1), m.group(3) or ""
        pairs = LABEL.findall(labels)
        check(",".join('%s="%s"' % p for p in pairs) == labels,
              "line %d: labels %r" % (ln, labels))
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        check(name in types or base in types,
              "line %d: %s without a TYPE before it" % (ln, name))
        key = (name, tuple(sorted(pairs)))
        check(key not in samples, "line %d: %s twice" % (ln, key))
        samples[key] = float(m.group(4))
    return samples, types


def histogram(samples, name):
    """Buckets (le, count) in order; checks they are cumulative."""
    b = sorted(((float(dict(k[1])["le"]), v) for k, v in samples.items()
                if k[0] == name + "_bucket"), key=lambda x: x[0])
    check(len(b) > 1 and b[-1][0] == math.inf, "%s: no +Inf bucket" % name)
    check(all(b[i][1] <= b[i + 1][1] for i in range(len(b) - 1)),
          "%s: buckets not cumulative: %r" % (name, b))
    count = samples.get((name + "_count", ()))
    check(b and count == b[-1][1], "%s: _count %r, +Inf %r" %
          (name, count, b[-1][1] if b else None))
    check((name + "_sum", ()) in samples, "%s: no _sum" % name)
    return b, count


def one(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def serve(conf, *extra):
    log = open(os.path.join(TMP, "server.log"), "ab")
    srv = subprocess.Popen([CARIMBO, "serve", "-c", conf, "--listen",
                            "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"]
                           + list(extra), stdout=subprocess.PIPE,
                           stderr=log)
    ports = []
    for want in ("listening on ", "admin listening on "):
        line = srv.stdout.readline().decode()
        if not line.startswith(want):
            srv.kill()
            sys.exit("FAIL: %r, not %r" % (line, want))
        ports.append(int(line.rsplit(":", 1)[1]))
    return srv, ports[0], ports[1]


def stop(srv):
    srv.terminate()
    try:
        rc = srv.wait(30)
    except subprocess.TimeoutExpired:
        srv.kill()
        rc = srv.wait()
    check(rc == 0, "server exit status %s" % rc)


subprocess.run([CARIMBO, "init", "--demo", STATE], check=True,
               capture_output=True, timeout=120)
tsq = os.path.join(TMP, "q.tsq")
subprocess.run(["openssl", "ts", "-query", "-data", CONF, "-sha256",
                "-cert", "-out", tsq], check=True, capture_output=True)
query = open(tsq, "rb").read()
version = subprocess.run([CARIMBO, "--version"], capture_output=True,
                         text=True).stdout.split("\n")
TSQ = "application/timestamp-query"

srv, pub, adm = serve(CONF)
try:
    check(pub != adm, "one port for both: %d" % pub)
    st, body = get(pub, "/health")
    check(st == 200 and body == b'{"status":"ok"}\n',
          "public /health: %d %r" % (st, body))
    st, body = get(pub, "/health", method="HEAD")
    check(st == 200 and body == b"", "public HEAD /health: %d" % st)
    st, body = get(pub, "/metrics")
    check(st == 404, "public /metrics: %d %r" % (st, body[:80]))
    for i in range(N_TOKENS):
        st, body = get(pub, "/", "POST", query, TSQ)
        check(st == 200 and len(body) > 500, "POST / %d: %d" % (i, st))
    for i in range(N_ERS):
        st, body = get(pub, "/ers", "POST", query, TSQ)
        check(st == 200 and len(body) > 500, "POST /ers %d: %d" % (i, st))

    st, body = get(adm, "/", "POST", query, TSQ)
    check(st == 404, "admin POST /: %d" % st)
    st, body = get(adm, "/root.pem")
    check(st == 404, "admin /root.pem: %d" % st)
    st, body = get(adm, "/health")
    h = json.loads(body) if st == 200 else {}
    check(st == 200 and h.get("status") == "ok" and
          h.get("ledger") == "ok" and h.get("signing", {}).get("workers")
          == 1 and h.get("clock", {}).get("mode") == "demo",
          "admin /health: %d %r" % (st, body[:300]))
    st, body = get(adm, "/metrics")
    check(st == 200, "admin /metrics: %d" % st)
    samples, types = parse(body.decode())

    check(one(samples, "carimbo_requests_total") == N_TOKENS + N_ERS,
          "requests_total %r" % one(samples, "carimbo_requests_total"))
    check(one(samples, "carimbo_tokens_total") == N_TOKENS,
          "tokens_total %r" % one(samples, "carimbo_tokens_total"))
    check(one(samples, "carimbo_evidence_records_total") == N_ERS,
          "evidence %r" % one(samples, "carimbo_evidence_records_total"))
    for h in ("carimbo_round_requests", "carimbo_round_latency_seconds",
              "carimbo_signing_seconds"):
        check(types.get(h) == "histogram", "%s: TYPE %r" % (h, types.get(h)))
    # A lone request is answered at once: a round each.
    rounds = one(samples, "carimbo_rounds_total")
    stamps = one(samples, "carimbo_signatures_total", kind="stamp")
    b, count = histogram(samples, "carimbo_round_requests")
    check(count == rounds, "round_requests_count %r, rounds %r" %
          (count, rounds))
    check(one(samples, "carimbo_round_requests_sum") ==
          N_TOKENS + N_ERS + stamps,
          "round_requests_sum %r, sent %d (+%r stamps)" %
          (one(samples, "carimbo_round_requests_sum"), N_TOKENS + N_ERS,
           stamps))
    check(rounds == N_TOKENS + N_ERS + stamps and b[0] == (1.0, rounds),
          "rounds %r, le=1 %r" % (rounds, b[0]))
    _, lcount = histogram(samples, "carimbo_round_latency_seconds")
    check(lcount == rounds, "round_latency_count %r, rounds %r" %
          (lcount, rounds))
    _, scount = histogram(samples, "carimbo_signing_seconds")
    sigs = sum(v for k, v in samples.items()
               if k[0] == "carimbo_signatures_total")
    check(scount == sigs and
          one(samples, "carimbo_signatures_total", kind="token") ==
          N_TOKENS and
          one(samples, "carimbo_signatures_total", kind="round") == N_ERS,
          "signing_seconds_count %r, signatures %r" % (scount, sigs))
    check(0 < one(samples, "carimbo_signing_seconds_sum") < scount * 5,
          "signing_seconds_sum %r" % one(samples,
                                         "carimbo_signing_seconds_sum"))
    info = [dict(k[1]) for k in samples if k[0] == "carimbo_build_info"]
    check(len(info) == 1 and version[0] == "carimbo " +
          info[0].get("version", "?") and version[1] == "commit: " +
          info[0].get("commit", "?") and info[0].get("openssl", "")
          in version[2], "build_info %r, --version %r" % (info, version))
    check(one(samples, "carimbo_signing_queue") == 0,
          "signing_queue %r" % one(samples, "carimbo_signing_queue"))
finally:
    stop(srv)

# A closed gate: the public /health names the part, the admin's the why.
strict = os.path.join(STATE, "strict.conf")
with open(CONF) as f, open(strict, "w") as g:
    g.write(f.read().replace("clock_mode = demo", "clock_mode = strict"))
    g.write("clock_kernel = ignore\nclock_chrony = none\n"
            "clock_min_sources = 1\nntp_server = 127.0.0.1:9\n")
srv, pub, adm = serve(strict)
try:
    st, body = get(pub, "/health")
    check(st == 503 and body ==
          b'{"status":"unavailable","reason":"clock"}\n',
          "public /health, gate closed: %d %r" % (st, body))
    st, body = get(adm, "/health")
    check(st == 503 and b"127.0.0.1:9" in body and
          b'"reason":"too few good clock sources"' in body,
          "admin /health, gate closed: %d %r" % (st, body[:300]))
finally:
    stop(srv)

if failures:
    print("%d failures; log: %s" % (len(failures),
                                    os.path.join(TMP, "server.log")))
    sys.exit(1)
shutil.rmtree(TMP)
print("admin.py: public and admin listeners agree with the config, "
      "/metrics parses and counts what was sent")
