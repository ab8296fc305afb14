#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# /health for a load balancer (doc/scale-out.md): it names the unit
# (unit_id) and says whether it is stopping (draining).  With
# stop_notice_seconds = 2, after SIGTERM the unit serves on for 2 s, every
# reply closing its connection, while /health answers 503 with
# "draining":true; a token asked meanwhile is granted; then it stops
# (exit 0) without a third second.  A second run without the notice stops
# at once.
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

CARIMBO = os.environ.get("CARIMBO", "build/carimbo")
TMP = tempfile.mkdtemp(prefix="carimbo-stopnotice-")
STATE = os.path.join(TMP, "state")
CONF = os.path.join(STATE, "carimbo.conf")
LOG = os.path.join(TMP, "server.log")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("  FAIL:", what, flush=True)


def get(port, req):
    """(status, head, body) of one request on a new connection."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(req)
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    head, _, body = out.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.1 (\d+)", head)
    return (int(m.group(1)) if m else 0), head, body


HEALTH = b"GET /health HTTP/1.1\r\nHost: u\r\nConnection: close\r\n\r\n"

subprocess.run([CARIMBO, "init", "--demo", STATE], check=True,
               capture_output=True, timeout=120)
# Unit 7, as doc/scale-out.md adds a unit: its key and certificate, which
# names its unit id (serve refuses another).
cert7 = os.path.join(STATE, "tsa7.pem")
subprocess.run([CARIMBO, "ca", "issue", "-c", CONF, "--profile", "tsa",
                "--unit-id", "7", "--keygen-on-token", "--key-label", "tsa7",
                "--subject", "/C=PT/O=carimbo demo/CN=carimbo demo TSU 7",
                "--out", cert7], check=True, capture_output=True, timeout=60)
chain = open(os.path.join(STATE, "tsa-chain.pem")).read()
with open(os.path.join(STATE, "tsa7-chain.pem"), "w") as f:
    f.write(open(cert7).read() +
            chain[chain.index("-----END CERTIFICATE-----") + 26:])
base = open(CONF).read() + "\nkey_label = tsa7\ntsa_chain = tsa7-chain.pem\n"
subprocess.run(["openssl", "ts", "-query", "-data", CONF, "-sha256", "-cert",
                "-out", os.path.join(TMP, "q.tsq")], check=True,
               capture_output=True)
TSQ = open(os.path.join(TMP, "q.tsq"), "rb").read()
POST = (b"POST / HTTP/1.1\r\nHost: u\r\n"
        b"Content-Type: application/timestamp-query\r\n"
        b"Content-Length: %d\r\n\r\n" % len(TSQ)) + TSQ


def start(extra):
    with open(CONF, "w") as f:
        f.write(base + extra)
    p = subprocess.Popen([CARIMBO, "serve", "-c", CONF, "--listen",
                          "127.0.0.1:0"], stdout=subprocess.PIPE,
                         stderr=open(LOG, "ab"))
    m = re.match(r"listening on 127\.0\.0\.1:(\d+)",
                 p.stdout.readline().decode())
    return p, int(m.group(1))


srv, port = start("\nunit_id = 7\nstop_notice_seconds = 2\n")
try:
    st, head, body = get(port, HEALTH)
    h = json.loads(body)
    check(st == 200 and h["status"] == "ok" and h["unit_id"] == 7 and
          h["draining"] is False, "health before: %s %s" % (st, body))
    t0 = time.monotonic()
    srv.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    st, head, body = get(port, HEALTH)
    h = json.loads(body)
    check(st == 503 and h["draining"] is True and h["unit_id"] == 7 and
          h.get("reason") == "stopping: draining" and
          b"Retry-After: 1" in head,
          "health while stopping: %s %s" % (st, body))
    st, head, body = get(port, POST)
    check(st == 200 and b"Connection: close" in head and
          body[:2] == b"\x30\x82",
          "a token while stopping: %s %r" % (st, head))
    rc = srv.wait(10)
    took = time.monotonic() - t0
    check(rc == 0 and 1.5 <= took < 4.5,
          "stopped with %s after %.1f s, want 0 after about 2 s" % (rc, took))
finally:
    if srv.poll() is None:
        srv.kill()
        srv.wait()

# The same unit (its ledger is unit 7's) without the notice.
srv, port = start("\nunit_id = 7\n")
try:
    st, head, body = get(port, HEALTH)
    h = json.loads(body)
    check(h["unit_id"] == 7 and h["draining"] is False,
          "health, no notice: %s" % body)
    t0 = time.monotonic()
    srv.send_signal(signal.SIGTERM)
    rc = srv.wait(10)
    took = time.monotonic() - t0
    check(rc == 0 and took < 1.5, "no notice: stopped with %s after %.1f s"
          % (rc, took))
finally:
    if srv.poll() is None:
        srv.kill()
        srv.wait()

text = open(LOG, errors="replace").read()
check("stopping in 2 s (stop_notice_seconds)" in text,
      "the notice's log line: %s" % re.findall(r".*stopping.*", text))
if failures:
    print(text[-3000:])
    print("%d failures" % len(failures))
    sys.exit(1)
subprocess.run(["rm", "-rf", TMP])
print("stop_notice: ok")
