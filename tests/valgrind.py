#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# `make valgrind`: the server under valgrind's memcheck,
#   valgrind --leak-check=full --error-exitcode=1
# (with tests/valgrind.supp, leaks inside the libraries only), through a
# short run that takes every path of a request once or more: POST / and
# POST /ers, pipelined and one by one, a request split over two reads,
# Expect: 100-continue, HTTP/1.0, a request that does not parse, a bad
# method, a 404, /health, /metrics, a CA certificate, anchors and clock
# seals; then SIGTERM.  Passes when the server exits 0 (valgrind makes it
# 1 on any error or leak) and its log says so.  Not in make test: the
# server starts and signs some fifty times slower under valgrind.
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

CARIMBO = os.path.abspath(os.environ.get("CARIMBO", "build/carimbo"))
SUPP = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                    "valgrind.supp")
TMP = tempfile.mkdtemp(prefix="carimbo-valgrind-")
STATE = os.path.join(TMP, "state")
CONF = os.path.join(STATE, "carimbo.conf")
VGLOG = os.path.join(TMP, "valgrind.log")
TIMEOUT = 120           # seconds for any one answer under valgrind
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("  FAIL:", what)


if shutil.which("valgrind") is None:
    print("FAIL: valgrind is not installed (make deps)")
    sys.exit(1)
if b"__asan_init" in open(CARIMBO, "rb").read():
    print("FAIL: %s is built with AddressSanitizer; valgrind needs the "
          "plain build" % CARIMBO)
    sys.exit(1)

subprocess.run([CARIMBO, "init", "--demo", STATE], check=True,
               capture_output=True, timeout=120)
with open(CONF, "a") as f:
    f.write("\n# valgrind.py: anchors and seals within the short run.\n"
            "anchor_rounds = 2\nclock_poll_ms = 500\n"
            "clock_seal_interval_ms = 1000\n")


def tsq(n, cert=True):
    data = os.path.join(TMP, "d%d" % n)
    with open(data, "wb") as f:
        f.write(os.urandom(64))
    out = os.path.join(TMP, "q%d.tsq" % n)
    subprocess.run(["openssl", "ts", "-query", "-data", data, "-sha256"] +
                   (["-cert"] if cert else []) + ["-out", out], check=True,
                   capture_output=True)
    return open(out, "rb").read()


def post(path, body, extra=b"", version=b"HTTP/1.1"):
    return (b"POST " + path + b" " + version + b"\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/timestamp-query\r\n" + extra +
            b"Content-Length: %d\r\n\r\n" % len(body) + body)


def get(path, version=b"HTTP/1.1"):
    return b"GET " + path + b" " + version + b"\r\nHost: 127.0.0.1\r\n\r\n"


def exchange(port, parts, answers, pause=0.0):
    """Sends parts (pause seconds apart) on one connection; reads until
    answers replies have come (counted by status lines) or the server
    closes.  Returns the status codes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    try:
        for i, p in enumerate(parts):
            if i > 0 and pause:
                time.sleep(pause)
            s.sendall(p)
        data = b""
        while len(re.findall(rb"HTTP/1\.[01] (?!100)\d{3} ", data)) < answers:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    return [int(c) for c in re.findall(rb"HTTP/1\.[01] (\d{3}) ", data)]


srv = subprocess.Popen(["valgrind", "--leak-check=full",
                        "--error-exitcode=1", "--suppressions=" + SUPP,
                        "--log-file=" + VGLOG, CARIMBO, "serve", "-c", CONF,
                        "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE,
                       stderr=open(os.path.join(TMP, "server.log"), "wb"))
t0 = time.monotonic()
try:
    line = srv.stdout.readline().decode()
    m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
    if not m:
        raise SystemExit("server did not start: %r" % line)
    port = int(m.group(1))
    print("started under valgrind in %.0f s" % (time.monotonic() - t0))
    q = [tsq(i, cert=i % 2 == 0) for i in range(6)]

    check(exchange(port, [get(b"/health")], 1) == [200], "/health")
    # Three pipelined on one connection, then /ers one by one.
    st = exchange(port, [post(b"/", q[0]) + post(b"/", q[1]) +
                         post(b"/ers", q[2])], 3)
    check(st == [200, 200, 200], "pipelined POST: %s" % st)
    for i in (3, 4):
        st = exchange(port, [post(b"/ers", q[i])], 1)
        check(st == [200], "POST /ers: %s" % st)
    # A request over two reads; Expect: 100-continue; HTTP/1.0.
    r = post(b"/", q[5])
    st = exchange(port, [r[:40], r[40:]], 1, pause=0.5)
    check(st == [200], "split POST: %s" % st)
    r = post(b"/", q[0], extra=b"Expect: 100-continue\r\n")
    i = r.index(b"\r\n\r\n") + 4
    st = exchange(port, [r[:i], r[i:]], 1, pause=0.5)
    # The 100 only when the head came alone, which valgrind's pace decides.
    check(st in ([100, 200], [200]), "100-continue: %s" % st)
    st = exchange(port, [post(b"/", q[1], version=b"HTTP/1.0")], 1)
    check(st == [200], "HTTP/1.0: %s" % st)
    # What is refused: a body that is no request, a method, a path, junk.
    st = exchange(port, [post(b"/", b"\x30\x03\x02\x01\x07") +
                         b"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n" +
                         get(b"/nothing") + get(b"/ca/root.crt") +
                         get(b"/metrics")], 5)
    check(st == [200, 405, 404, 200, 200], "refusals and GETs: %s" % st)
    st = exchange(port, [b"\x16\x03\x01 not http\r\n\r\n"], 1)
    check(st == [400], "junk: %s" % st)
    time.sleep(3)       # a seal or two on the clock thread
finally:
    if srv.poll() is None:
        srv.send_signal(signal.SIGTERM)
    try:
        rc = srv.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        srv.kill()
        rc = srv.wait()
print("run under valgrind: %.0f s" % (time.monotonic() - t0))

log = open(VGLOG).read()
m = re.search(r"ERROR SUMMARY: (\d+) errors", log)
check(m is not None, "no ERROR SUMMARY in valgrind's log")
check(m is not None and m.group(1) == "0", "valgrind: %s errors" % (
    m.group(1) if m else "?"))
for kind in ("definitely lost", "indirectly lost", "possibly lost"):
    m = re.search(r"%s: ([\d,]+) bytes" % kind, log)
    check(m is None or m.group(1) == "0", "%s: %s bytes" % (
        kind, m.group(1) if m else "?"))
check(rc == 0, "server exit status %d under valgrind" % rc)
if failures:
    print("valgrind's log (%s):" % VGLOG)
    print(log[-6000:])
    print("valgrind.py: %d check(s) failed" % len(failures))
    sys.exit(1)
subprocess.run(["rm", "-rf", TMP])
print("valgrind.py: no errors, no leaks")
