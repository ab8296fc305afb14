#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# Connections per client (carimbo.conf max_client_connections, tsa/
# clients.c): the server on 127.0.0.1 with proxy_from = 127.0.0.2 and
# max_client_connections = 2; a client is an IPv4 address or an IPv6 /64,
# the peer's or the one a listed proxy's PROXY v2 header names.
#
#   behind the proxy: client 192.0.2.7 holds two idle connections, its
#   third is answered 503 with Retry-After and closed, while 192.0.2.8 is
#   served; two IPv6 clients of one /64 count as one, another /64 is
#   served; once one of 192.0.2.7's closes, it is served again;
#   direct: 127.0.0.1 (no proxy) holds two, its third gets 503, 127.0.0.3
#   is served;
#   the refusals are counted (limit="max_client_connections") and logged
#   once with the last client, the gauge carimbo_clients falls back as
#   connections close, and a reload to 0 lifts the limit.
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

CARIMBO = os.environ.get("CARIMBO", "build/carimbo")
TMP = tempfile.mkdtemp(prefix="carimbo-clients-")
STATE = os.path.join(TMP, "state")
CONF = os.path.join(STATE, "carimbo.conf")
LOG = os.path.join(TMP, "server.log")
SIG = b"\r\n\r\n\x00\r\nQUIT\n"
HEALTH = b"GET /health HTTP/1.1\r\nHost: u\r\nConnection: close\r\n\r\n"
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("  FAIL:", what, flush=True)


def header(src, port):
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    a = socket.inet_pton(fam, src)
    d = socket.inet_pton(fam, "::1" if fam == socket.AF_INET6 else
                         "127.0.0.1")
    body = a + d + struct.pack(">HH", port, 8318)
    famb = 0x21 if fam == socket.AF_INET6 else 0x11
    return SIG + bytes([0x21, famb]) + struct.pack(">H", len(body)) + body


def hold(port, src, first=b""):
    """A connection from src that sends first and then waits."""
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    if first:
        s.sendall(first)
    return s


def ask(port, src, first=b""):
    """A connection from src: first + GET /health; all it got back."""
    s = hold(port, src, first + HEALTH)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    return out


def metric(port, name):
    s = hold(port, "127.0.0.9", b"GET /metrics HTTP/1.1\r\nHost: u\r\n"
             b"Connection: close\r\n\r\n")
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    m = re.search(rb"^" + re.escape(name.encode()) + rb" (\d+)$", out, re.M)
    return int(m.group(1)) if m else None


def clients(port):
    """carimbo_clients, less the asking connection's own client."""
    n = metric(port, "carimbo_clients")
    return n - 1 if n is not None else None


def log_text():
    with open(LOG, errors="replace") as f:
        return f.read()


def served(got):
    return got.startswith(b"HTTP/1.1 200")


def refused(got):
    return got.startswith(b"HTTP/1.1 503") and b"Retry-After: 1" in got


subprocess.run([CARIMBO, "init", "--demo", STATE], check=True,
               capture_output=True, timeout=120)
base = open(CONF).read()
with open(CONF, "w") as f:
    f.write(base + "\nproxy_from = 127.0.0.2\nmax_client_connections = 2\n")
srv = subprocess.Popen([CARIMBO, "serve", "-c", CONF, "--listen",
                        "127.0.0.1:0"], stdout=subprocess.PIPE,
                       stderr=open(LOG, "wb"))
held = []
try:
    port = int(re.match(r"listening on 127\.0\.0\.1:(\d+)",
                        srv.stdout.readline().decode()).group(1))
    REFUSED = 'carimbo_refused_total{limit="max_client_connections"}'

    # Behind the proxy: counted by the header's client.
    held += [hold(port, "127.0.0.2", header("192.0.2.7", 1000 + i))
             for i in range(2)]
    time.sleep(0.3)
    check(clients(port) == 1, "one client counted: %r" % clients(port))
    got = ask(port, "127.0.0.2", header("192.0.2.7", 1002))
    check(refused(got), "the third of 192.0.2.7: %r" % got[:120])
    check(served(ask(port, "127.0.0.2", header("192.0.2.8", 1))),
          "192.0.2.8 beside it")
    held += [hold(port, "127.0.0.2", header(a, 7)) for a in
             ("2001:db8:1:2::5", "2001:db8:1:2::6")]
    time.sleep(0.3)
    got = ask(port, "127.0.0.2", header("2001:db8:1:2::7", 7))
    check(refused(got), "a third of one IPv6 /64: %r" % got[:120])
    check(served(ask(port, "127.0.0.2", header("2001:db8:1:3::1", 7))),
          "another /64")
    held[0].close()
    time.sleep(0.5)
    check(served(ask(port, "127.0.0.2", header("192.0.2.7", 1003))),
          "192.0.2.7 once one of its connections closed")

    # Direct: the peer is the client.
    held += [hold(port, "127.0.0.1") for _ in range(2)]
    time.sleep(0.3)
    got = ask(port, "127.0.0.1")
    check(refused(got), "the third from 127.0.0.1: %r" % got[:120])
    check(served(ask(port, "127.0.0.3")), "127.0.0.3 beside it")

    n = metric(port, REFUSED)
    check(n == 3, "refusals counted: %r, want 3" % n)
    check(clients(port) == 3,
          "clients held: 192.0.2.7, the /64, 127.0.0.1: %r" % clients(port))
    time.sleep(0.2)
    check(re.search(r"refused 1 connections: max_client_connections \(2\) "
                    r"reached \(the last from 192\.0\.2\.7:1002\)",
                    log_text()), "the first refusal's log line: %s" %
          re.findall(r"refused.*max_client.*", log_text()))
    for s in held:
        s.close()
    held = []
    time.sleep(0.5)
    check(clients(port) == 0, "every client gone: %r" % clients(port))

    # A reload to 0 lifts it.
    held += [hold(port, "127.0.0.1") for _ in range(2)]
    with open(CONF, "w") as f:
        f.write(base + "\nproxy_from = 127.0.0.2\n")
    srv.send_signal(signal.SIGHUP)
    for _ in range(100):
        if "reload: in place" in log_text():
            break
        time.sleep(0.05)
    check(served(ask(port, "127.0.0.1")), "no limit after the reload")
finally:
    for s in held:
        s.close()
    srv.send_signal(signal.SIGTERM)
    try:
        srv.wait(30)
    except subprocess.TimeoutExpired:
        srv.kill()
        failures.append("serve did not stop")

check(srv.returncode == 0, "serve exit %s" % srv.returncode)
if failures:
    print(log_text()[-3000:])
    print("%d failures" % len(failures))
    sys.exit(1)
subprocess.run(["rm", "-rf", TMP])
print("clients: ok")
