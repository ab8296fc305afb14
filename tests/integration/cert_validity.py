#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# No token outside the TSA certificate's validity (tsa/round.c,
# serve_cert_why()): with the server's clock moved by libfaketime (the
# test's own clock untouched), `serve` and `check` refuse a certificate
# that has expired or is not yet valid; a server started four seconds
# before notAfter grants a token (verified with `openssl ts -verify`),
# warns that the certificate ends, shows the seconds left in /metrics,
# and once past it answers systemFailure with the reason and /health
# 503 with the reason, without a restart.
import datetime
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

CARIMBO = os.environ.get("CARIMBO", "build/carimbo")
LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
TMP = tempfile.mkdtemp(prefix="carimbo-certval-")
STATE = os.path.join(TMP, "state")
CONF = os.path.join(STATE, "carimbo.conf")
failures = []
if not os.path.exists(LIB):
    print("FAIL: %s absent (make deps installs faketime)" % LIB)
    sys.exit(1)


def check(cond, what):
    if not cond:
        failures.append(what)
        print("  FAIL:", what, flush=True)


def env_at(when):
    e = dict(os.environ, LD_PRELOAD=LIB, FAKETIME_DONT_FAKE_MONOTONIC="1",
             FAKETIME="@" + when.strftime("%Y-%m-%d %H:%M:%S"))
    # Under ASan the preloaded library comes before its runtime.
    e["ASAN_OPTIONS"] = e.get("ASAN_OPTIONS", "") + \
        ":verify_asan_link_order=0"
    return e


def cert_time(which):
    out = subprocess.run(["openssl", "x509", "-noout", "-" + which, "-in",
                          os.path.join(STATE, "tsa-chain.pem")],
                         capture_output=True, check=True).stdout.decode()
    return datetime.datetime.strptime(out.split("=", 1)[1].strip(),
                                      "%b %d %H:%M:%S %Y GMT")


def ts_reply(port):
    req = urllib.request.Request("http://127.0.0.1:%d/" % port,
                                 data=open(os.path.join(TMP, "q.tsq"),
                                           "rb").read(),
                                 headers={"Content-Type":
                                          "application/timestamp-query"})
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read()
    path = os.path.join(TMP, "r.tsr")
    with open(path, "wb") as f:
        f.write(body)
    text = subprocess.run(["openssl", "ts", "-reply", "-in", path, "-text"],
                          capture_output=True).stdout.decode()
    return path, text


def get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                    timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


subprocess.run([CARIMBO, "init", "--demo", STATE], check=True,
               capture_output=True, timeout=120)
subprocess.run(["openssl", "ts", "-query", "-data", CONF, "-sha256", "-cert",
                "-out", os.path.join(TMP, "q.tsq")], check=True,
               capture_output=True)
nb, na = cert_time("startdate"), cert_time("enddate")

for what, when, want in (("expired", na + datetime.timedelta(days=1),
                          "the TSA certificate has expired"),
                         ("not yet valid", nb - datetime.timedelta(days=1),
                          "the TSA certificate is not yet valid")):
    p = subprocess.run([CARIMBO, "serve", "-c", CONF, "--listen",
                        "127.0.0.1:0"], env=env_at(when), capture_output=True,
                       timeout=60)
    err = p.stderr.decode()
    check(p.returncode == 1 and want in err and "refusing to serve" in err,
          "serve, %s: exit %d, %r" % (what, p.returncode, err[-300:]))
    p = subprocess.run([CARIMBO, "check", "-c", CONF], env=env_at(when),
                       capture_output=True, timeout=60)
    check(p.returncode == 1 and want in p.stderr.decode(),
          "check, %s: exit %d, %r" % (what, p.returncode, p.stderr[-300:]))

# Four seconds before notAfter, then past it.
log = os.path.join(TMP, "server.log")
srv = subprocess.Popen([CARIMBO, "serve", "-c", CONF, "--listen",
                        "127.0.0.1:0"], env=env_at(na - datetime.timedelta(
                            seconds=4)), stdout=subprocess.PIPE,
                       stderr=open(log, "wb"))
try:
    m = re.match(r"listening on 127\.0\.0\.1:(\d+)",
                 srv.stdout.readline().decode())
    check(m is not None, "server did not start")
    port = int(m.group(1))
    path, text = ts_reply(port)
    check("Status: Granted." in text, "before notAfter: %s" % text[:300])
    v = subprocess.run(["openssl", "ts", "-verify", "-in", path, "-queryfile",
                        os.path.join(TMP, "q.tsq"), "-CAfile",
                        os.path.join(STATE, "root.pem"), "-untrusted",
                        os.path.join(STATE, "tsa-chain.pem"), "-attime",
                        str(int((na - datetime.timedelta(seconds=10)).replace(
                            tzinfo=datetime.timezone.utc).timestamp()))],
                       capture_output=True)
    check(b"Verification: OK" in v.stdout, "token before notAfter: %s %s" %
          (v.stdout, v.stderr))
    status, body = get(port, "/metrics")
    m = re.search(r'carimbo_certificate_expiry_seconds\{cert="tsa"\} (-?\d+)',
                  body)
    check(m is not None and 0 < int(m.group(1)) <= 4,
          "metrics: %s" % (m.group(0) if m else "no expiry gauge"))
    status, body = get(port, "/health")
    check(status == 200, "health before notAfter: %d %s" % (status, body))
    time.sleep(5)
    path, text = ts_reply(port)
    check("Status: Rejected." in text and "system failure" in text.lower()
          and "the TSA certificate has expired" in text,
          "past notAfter: %s" % text[:400])
    status, body = get(port, "/health")
    check(status == 503 and "the TSA certificate has expired" in body,
          "health past notAfter: %d %s" % (status, body))
finally:
    srv.terminate()
    srv.wait(30)
text = open(log).read()
check(re.search(r"the TSA certificate expires in 0 days 00:00", text),
      "no warning ahead of notAfter in the log")
check("the TSA certificate has expired: every request is refused" in text,
      "no log line once expired")

if failures:
    print("%d failures" % len(failures))
    sys.exit(1)
print("cert_validity.py: all checks passed")
