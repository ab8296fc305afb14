#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# PROXY protocol v2 in the loop (carimbo.conf proxy_from, doc/scale-out.md):
# the real server on 127.0.0.1 with proxy_from = 127.0.0.2, and clients
# that bind 127.0.0.2 (the proxy) or 127.0.0.1 (anyone else), sending
# headers built here by hand.
#
#   from the proxy: a header for an IPv4 and an IPv6 client, then a
#   request (a token granted); the header a byte at a time; a LOCAL
#   header (a health check): each answered, the client's address in the
#   log (serve -v); no header, a bad CRC32c, a v1 text header: closed
#   without a byte of HTTP
#   from anyone else: plain HTTP answered; a header closed
#
# The refusals are counted in /metrics (limit="proxy") and logged.  Then a
# reload without proxy_from: a header from the proxy is then only bytes
# that are not HTTP (400), as before proxy_from existed.
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
TMP = tempfile.mkdtemp(prefix="carimbo-proxy-")
STATE = os.path.join(TMP, "state")
CONF = os.path.join(STATE, "carimbo.conf")
LOG = os.path.join(TMP, "server.log")
SIG = b"\r\n\r\n\x00\r\nQUIT\n"
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("  FAIL:", what, flush=True)


def crc32c(data):
    crc = 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82f63b78 & -(crc & 1))
    return crc ^ 0xffffffff


def header(src=None, port=0, local=False, crc=None):
    """A PROXY v2 header: PROXY for src:port (v4 or v6), or LOCAL."""
    if local:
        return SIG + bytes([0x20, 0x00]) + struct.pack(">H", 0)
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    a = socket.inet_pton(fam, src)
    d = socket.inet_pton(fam, "::1" if fam == socket.AF_INET6 else
                         "127.0.0.1")
    body = a + d + struct.pack(">HH", port, 8318)
    if crc is not None:
        body += bytes([0x03, 0x00, 0x04]) + b"\0\0\0\0"
    famb = 0x21 if fam == socket.AF_INET6 else 0x11
    h = SIG + bytes([0x21, famb]) + struct.pack(">H", len(body)) + body
    if crc is not None:
        v = crc32c(h) if crc == "good" else crc32c(h) ^ 1
        h = h[:-4] + struct.pack(">I", v)
    return h


def exchange(port, src, chunks, gap=0.0):
    """Sends chunks from src; returns all the server sent before closing."""
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    for c in chunks:
        s.sendall(c)
        if gap:
            time.sleep(gap)
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


HEALTH = b"GET /health HTTP/1.1\r\nHost: u\r\nConnection: close\r\n\r\n"


def metrics(port):
    got = exchange(port, "127.0.0.1",
                   [b"GET /metrics HTTP/1.1\r\nHost: u\r\nConnection: close\r\n\r\n"])
    m = re.search(rb'carimbo_refused_total\{limit="proxy"\} (\d+)', got)
    return int(m.group(1)) if m else None


def log_text():
    with open(LOG, errors="replace") as f:
        return f.read()


subprocess.run([CARIMBO, "init", "--demo", STATE], check=True,
               capture_output=True, timeout=120)
base = open(CONF).read()
with open(CONF, "w") as f:
    f.write(base + "\nproxy_from = 127.0.0.2 2001:db8::/32\n")
tsq = os.path.join(TMP, "q.tsq")
subprocess.run(["openssl", "ts", "-query", "-data", CONF, "-sha256", "-cert",
                "-out", tsq], check=True, capture_output=True)
TSQ = open(tsq, "rb").read()
POST = (b"POST / HTTP/1.1\r\nHost: u\r\nConnection: close\r\n"
        b"Content-Type: application/timestamp-query\r\n"
        b"Content-Length: %d\r\n\r\n" % len(TSQ)) + TSQ

srv = subprocess.Popen([CARIMBO, "serve", "-v", "-c", CONF, "--listen",
                        "127.0.0.1:0"], stdout=subprocess.PIPE,
                       stderr=open(LOG, "wb"))
try:
    m = re.match(r"listening on 127\.0\.0\.1:(\d+)",
                 srv.stdout.readline().decode())
    port = int(m.group(1))

    # From the proxy: a header, then HTTP.
    got = exchange(port, "127.0.0.2", [header("192.0.2.7", 5555) + POST])
    check(got.startswith(b"HTTP/1.1 200") and
          b"application/timestamp-reply" in got,
          "a token through the proxy: %r" % got[:200])
    got = exchange(port, "127.0.0.2",
                   [header("2001:db8:1::9", 4433, crc="good"), HEALTH])
    check(got.startswith(b"HTTP/1.1 200"), "IPv6 client, CRC32c: %r" %
          got[:100])
    h = header("198.51.100.23", 6001) + HEALTH
    got = exchange(port, "127.0.0.2", [h[i:i + 1] for i in range(30)] +
                   [h[30:]], gap=0.005)
    check(got.startswith(b"HTTP/1.1 200"), "a byte at a time: %r" %
          got[:100])
    got = exchange(port, "127.0.0.2", [header(local=True) + HEALTH])
    check(got.startswith(b"HTTP/1.1 200"), "LOCAL: %r" % got[:100])
    time.sleep(0.2)
    text = log_text()
    for who in ("192.0.2.7:5555", "[2001:db8:1::9]:4433",
                "198.51.100.23:6001"):
        check(re.search(r"connection from %s through proxy 127\.0\.0\.2:\d+"
                        % re.escape(who), text),
              "the client %s not in the log" % who)
    check(text.count("through proxy") == 3,
          "LOCAL logged as a client: %d lines" % text.count("through proxy"))

    # From the proxy, without a good header: closed, no HTTP.
    before = metrics(port)
    check(before == 0, "refusals before: %r" % before)
    for what, chunks in (("no header", [HEALTH]),
                         ("a bad CRC32c",
                          [header("192.0.2.7", 1, crc="bad") + HEALTH]),
                         ("a v1 header",
                          [b"PROXY TCP4 192.0.2.7 127.0.0.1 1 2\r\n" +
                           HEALTH])):
        got = exchange(port, "127.0.0.2", chunks)
        check(got == b"", "%s from the proxy answered: %r" % (what,
                                                               got[:100]))

    # From anyone else: HTTP as ever; a header refused.
    got = exchange(port, "127.0.0.1", [HEALTH])
    check(got.startswith(b"HTTP/1.1 200"), "plain from 127.0.0.1: %r" %
          got[:100])
    got = exchange(port, "127.0.0.1", [header("192.0.2.7", 5555) + HEALTH])
    check(got == b"", "a header from 127.0.0.1 answered: %r" % got[:100])
    h = header("192.0.2.7", 5555) + HEALTH
    got = exchange(port, "127.0.0.1", [h[:5], h[5:]], gap=0.2)
    check(got == b"", "a header in two from 127.0.0.1 answered: %r" %
          got[:100])
    n = metrics(port)
    check(n == 5, "refusals counted: %r, want 5" % n)
    time.sleep(0.2)
    text = log_text()
    check(re.search(r"refused 1 connections: PROXY protocol \(proxy_from; "
                    r"the last: not a PROXY protocol v2 header from "
                    r"127\.0\.0\.2:\d+\)", text),
          "the first refusal's log line: %s" %
          re.findall(r"refused.*PROXY.*", text))

    # A reload without proxy_from: as before it existed.
    with open(CONF, "w") as f:
        f.write(base)
    srv.send_signal(signal.SIGHUP)
    for _ in range(100):
        if "reload: in place" in log_text():
            break
        time.sleep(0.05)
    check("reload: in place" in log_text(), "reload not in place")
    got = exchange(port, "127.0.0.2", [HEALTH])
    check(got.startswith(b"HTTP/1.1 200"), "plain from 127.0.0.2 after "
          "the reload: %r" % got[:100])
    got = exchange(port, "127.0.0.2", [header("192.0.2.7", 5555) + HEALTH])
    check(got.startswith(b"HTTP/1.1 400"), "a header without proxy_from: "
          "%r" % got[:100])
    check(metrics(port) == 5, "a refusal counted without proxy_from")
finally:
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
print("proxy: ok")
