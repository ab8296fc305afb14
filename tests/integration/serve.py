#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# The standard time-stamp server judged from outside: a demo state made by
# `carimbo init --demo`, the real server on a loopback port, requests made
# by `openssl ts -query` and sent with curl or a raw socket, answers checked
# with `openssl ts -verify` and field by field.  Every HTTP error the server
# promises, keep-alive, pipelining, timeouts, back-pressure, serials across
# a restart and a clean SIGTERM.
import calendar
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

CARIMBO = os.environ.get("CARIMBO", "build/carimbo")
TMP = tempfile.mkdtemp(prefix="carimbo-serve-")
STATE = os.path.join(TMP, "state")
failures = []
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)
        print("  FAIL:", what)


def run(*args, input=None, ok=True):
    p = subprocess.run(args, input=input, capture_output=True)
    if ok and p.returncode != 0:
        raise SystemExit("%s failed (%d): %s" % (" ".join(args), p.returncode,
                         p.stderr.decode(errors="replace")))
    return p


def path(name):
    return os.path.join(TMP, name)


class Server:
    def __init__(self, conf):
        self.err = open(path("server.log"), "ab")
        self.p = subprocess.Popen([CARIMBO, "serve", "-c", conf, "--listen",
                                   "127.0.0.1:0"], stdout=subprocess.PIPE,
                                  stderr=self.err)
        line = self.p.stdout.readline().decode()
        m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            raise SystemExit("server did not start: %r (log: %s)" % (
                line, open(path("server.log")).read()[-2000:]))
        self.port = int(m.group(1))
        self.url = "http://127.0.0.1:%d/" % self.port

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(timeout=20)
        self.err.close()
        return rc


def query(name, *opts):
    data = path(name + ".dat")
    with open(data, "wb") as f:
        f.write(os.urandom(100))
    q = path(name + ".tsq")
    run("openssl", "ts", "-query", "-data", data, *opts, "-out", q)
    return data, q


def post_curl(url, q, r, ctype="application/timestamp-query"):
    p = run("curl", "-sS", "-o", r, "-w", "%{http_code} %{content_type}",
            "-H", "Content-Type: " + ctype, "--data-binary", "@" + q, url)
    return p.stdout.decode()


def verify(r, q):
    p = run("openssl", "ts", "-verify", "-in", r, "-queryfile", q,
            "-CAfile", os.path.join(STATE, "root.pem"), "-untrusted",
            os.path.join(STATE, "tsa-chain.pem"), ok=False)
    return p.returncode == 0 and b"Verification: OK" in p.stdout


def tlv(b, i):
    """(start of content, end) of the DER TLV at b[i] (short or long form)."""
    n = b[i + 1]
    if n < 0x80:
        return i + 2, i + 2 + n
    k = n & 0x7f
    n = int.from_bytes(b[i + 2:i + 2 + k], "big")
    return i + 2 + k, i + 2 + k + n


def message_imprint(tsq):
    """The MessageImprint TLV of a TimeStampReq, as sent."""
    b = open(tsq, "rb").read()
    i, _ = tlv(b, 0)          # into TimeStampReq
    _, i = tlv(b, i)          # past version
    _, end = tlv(b, i)
    return b[i:end]


def reply_text(r):
    return run("openssl", "ts", "-reply", "-in", r, "-text").stdout.decode()


def field(text, name):
    m = re.search(r"^%s: (.*)$" % re.escape(name), text, re.M)
    return m.group(1).strip() if m else None


def serial_of(r):
    s = field(reply_text(r), "Serial number")
    return int(s, 16) if s else None


def certs_in(r):
    t = path("tok.der")
    run("openssl", "ts", "-reply", "-in", r, "-token_out", "-out", t)
    p = run("openssl", "pkcs7", "-inform", "DER", "-in", t, "-print_certs")
    return p.stdout.decode().count("subject=")


def http_msg(body=b"", method="POST", target="/", headers=None,
             ctype="application/timestamp-query"):
    h = ["%s %s HTTP/1.1" % (method, target), "Host: 127.0.0.1"]
    if ctype:
        h.append("Content-Type: " + ctype)
    if method == "POST":
        h.append("Content-Length: %d" % len(body))
    h += headers or []
    return ("\r\n".join(h) + "\r\n\r\n").encode() + body


def read_response(f):
    """One response from a socket file: (status, headers dict, body)."""
    line = f.readline()
    if not line:
        return None
    status = int(line.split()[1])
    hdrs = {}
    while True:
        line = f.readline().decode()
        if line in ("\r\n", ""):
            break
        k, v = line.split(":", 1)
        hdrs[k.strip().lower()] = v.strip()
    body = f.read(int(hdrs.get("content-length", 0)))
    return status, hdrs, body


def tsq_der(h):
    """A DER TimeStampReq (RFC 3161 2.4.1): version 1, SHA-256 digest h,
    certReq TRUE (bigger replies)."""
    alg = bytes.fromhex("300d06096086480165030402010500")
    mi = b"\x30" + bytes([len(alg) + 34]) + alg + b"\x04\x20" + h
    body = b"\x02\x01\x01" + mi + b"\x01\x01\xff"
    return b"\x30" + bytes([len(body)]) + body


def split_responses(buf):
    """The complete responses at the start of buf, and the rest."""
    out = []
    while True:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return out, buf
        head = buf[:end].decode()
        m = re.search(r"(?im)^content-length:\s*(\d+)", head)
        n = int(m.group(1)) if m else 0
        if len(buf) < end + 4 + n:
            return out, buf
        out.append((int(head.split()[1]), buf[end + 4:end + 4 + n]))
        buf = buf[end + 4 + n:]


def slow_reader(port, target, count):
    """count pipelined requests on a connection with a small receive
    buffer, read in small pieces (the server's send buffer grows to hold
    them: short sends are test_loop_send's).  Returns (digests,
    [(status, body)])."""
    hs = [os.urandom(32) for _ in range(count)]
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    s.sendall(b"".join(http_msg(tsq_der(h), target=target) for h in hs))
    time.sleep(0.3)         # the replies meet a shut window
    got, buf = [], b""
    while len(got) < count:
        chunk = s.recv(1500)
        if not chunk:
            break
        more, buf = split_responses(buf + chunk)
        got += more
        time.sleep(0.0005)
    s.close()
    return hs, got


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    return s, s.makefile("rb")


def exchange(port, raw):
    s, f = connect(port)
    s.sendall(raw)
    r = read_response(f)
    s.close()
    return r


def write_conf(extra):
    src = open(os.path.join(STATE, "carimbo.conf")).read()
    conf = os.path.join(STATE, "test.conf")
    with open(conf, "w") as f:
        f.write(src + "\n" + extra + "\n")
    return conf


def main():
    run(CARIMBO, "init", "--demo", STATE)
    conf = os.path.join(STATE, "carimbo.conf")
    srv = Server(conf)
    serials = []

    print("openssl ts + curl, certReq both ways, SHA-2 family")
    for i, opts in enumerate([("-sha256", "-cert"), ("-sha256",),
                              ("-sha384", "-cert"), ("-sha512",),
                              ("-sha256", "-cert", "-tspolicy",
                               "0.4.0.2023.1.1")]):
        data, q = query("q%d" % i, *opts)
        r = path("r%d.tsr" % i)
        out = post_curl(srv.url, q, r)
        check(out == "200 application/timestamp-reply", "HTTP reply %r" % out)
        check(verify(r, q), "openssl ts -verify of %s" % (opts,))
        text = reply_text(r)
        qtext = run("openssl", "ts", "-query", "-in", q, "-text").stdout.decode()
        check(field(text, "Status") == "Granted.", "status granted")
        check(field(text, "Nonce") == field(qtext, "Nonce"),
              "nonce echoed: %s vs %s" % (field(text, "Nonce"),
                                          field(qtext, "Nonce")))
        check(field(text, "Policy OID") in ("0.4.0.2023.1.1",
                                            "itu-t(0) identified-organization(4) etsi(0) 2023 1 1"),
              "policy %r" % field(text, "Policy OID"))
        check(field(text, "Accuracy") == "0x01 seconds, unspecified millis, "
              "unspecified micros", "accuracy %r" % field(text, "Accuracy"))
        check(field(text, "Ordering") == "no", "ordering absent")
        check(message_imprint(q) in open(r, "rb").read(),
              "messageImprint echoed byte for byte (RFC 3161 2.4.2)")
        check((field(text, "TSA") or "").startswith("DirName:"),
              "TSA name %r" % field(text, "TSA"))
        check(re.match(r"\d{14}\.\d{1,3} GMT$|\w{3} .* GMT$",
                       field(text, "Time stamp") or "") is not None,
              "genTime %r" % field(text, "Time stamp"))
        # The TSA certificate and the CAs up to, not including, the root.
        want = open(os.path.join(STATE, "tsa-chain.pem")).read().count(
            "BEGIN CERTIFICATE") if "-cert" in opts else 0
        check(certs_in(r) == want, "certReq %s: %d certificates, want %d" % (
            "-cert" in opts, certs_in(r), want))
        serials.append(serial_of(r))
        # Also verifiable from the data itself.
        p = run("openssl", "ts", "-verify", "-in", r, "-data", data,
                "-CAfile", os.path.join(STATE, "root.pem"), "-untrusted",
                os.path.join(STATE, "tsa-chain.pem"), ok=False)
        check(p.returncode == 0, "verify with -data")

    print("a tampered token does not verify")
    raw = bytearray(open(path("r0.tsr"), "rb").read())
    raw[-10] ^= 0x01
    open(path("bad.tsr"), "wb").write(raw)
    check(not verify(path("bad.tsr"), path("q0.tsq")), "tampered token rejected")

    print("the -response spelling of the content type")
    data, q = query("qresp", "-sha256")
    out = post_curl(srv.url, q, path("rresp.tsr"),
                    "application/timestamp-response")
    check(out.startswith("200") and verify(path("rresp.tsr"), q),
          "timestamp-response accepted")

    print("TSP rejections are TimeStampResp, HTTP 200")
    for name, opts, fail in [
            ("sha1", ("-sha1",), "unrecognized or unsupported algorithm identifier"),
            ("md5", ("-md5",), "unrecognized or unsupported algorithm identifier"),
            ("pol", ("-sha256", "-tspolicy", "1.2.3.4"),
             "the requested TSA policy is not supported by the TSA")]:
        data, q = query(name, *opts)
        r = path(name + ".tsr")
        out = post_curl(srv.url, q, r)
        text = reply_text(r)
        check(out.startswith("200"), "%s: HTTP 200" % name)
        check(field(text, "Status") == "Rejected.", "%s: rejected (%r)" % (
            name, field(text, "Status")))
        check(fail in text, "%s: failure info %r in %r" % (name, fail, text))
    open(path("garbage.tsq"), "wb").write(b"\x30\x03\x02\x01")
    post_curl(srv.url, path("garbage.tsq"), path("garbage.tsr"))
    check("the data submitted has the wrong format" in
          reply_text(path("garbage.tsr")),
          "garbage: badDataFormat")

    print("keep-alive: several requests on one connection")
    s, f = connect(srv.port)
    for i in range(3):
        data, q = query("ka%d" % i, "-sha256", "-cert")
        s.sendall(http_msg(open(q, "rb").read()))
        st, h, body = read_response(f)
        open(path("ka%d.tsr" % i), "wb").write(body)
        check(st == 200 and verify(path("ka%d.tsr" % i), q),
              "keep-alive request %d" % i)
        serials.append(serial_of(path("ka%d.tsr" % i)))
    s.close()

    print("pipelining: 20 requests in one write, answered in order")
    qs = [query("pl%d" % i, "-sha256")[1] for i in range(20)]
    s, f = connect(srv.port)
    s.sendall(b"".join(http_msg(open(q, "rb").read()) for q in qs))
    for i, q in enumerate(qs):
        st, h, body = read_response(f)
        r = path("pl%d.tsr" % i)
        open(r, "wb").write(body)
        check(st == 200 and verify(r, q), "pipelined %d verifies against "
              "its own query (order kept)" % i)
        serials.append(serial_of(r))
    s.close()

    print("a slow reader with a small window: 150 pipelined replies, in order")
    for target in ("/", "/ers"):
        hs, got = slow_reader(srv.port, target, 150)
        check(len(got) == 150 and all(st == 200 for st, _ in got),
              "%s: 150 answers, all 200 (%d)" % (target, len(got)))
        check(all(h in body for h, (_, body) in zip(hs, got)),
              "%s: each answer carries its own request's digest, in order"
              % target)
        for i in (0, 77, 149):
            if i >= len(got):
                break
            q, r = path("sr%d.tsq" % i), path("sr%d.out" % i)
            open(q, "wb").write(tsq_der(hs[i]))
            open(r, "wb").write(got[i][1])
            if target == "/":
                ok = verify(r, q)
            else:
                ok = run(CARIMBO, "verify", "--digest", hs[i].hex(),
                         "--ers", r, "--CAfile",
                         os.path.join(STATE, "root.pem"), "--untrusted",
                         os.path.join(STATE, "tsa-chain.pem"),
                         ok=False).returncode == 0
            check(ok, "%s: answer %d verifies" % (target, i))

    print("HTTP errors")
    body = open(qs[0], "rb").read()
    cases = [
        ("GET / -> 405", http_msg(method="GET", ctype=None), 405),
        ("unknown path -> 404", http_msg(body, target="/nope"), 404),
        ("chunked, no length -> 411",
         b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/"
         b"timestamp-query\r\nTransfer-Encoding: chunked\r\n\r\n", 411),
        ("wrong content type -> 415", http_msg(body, ctype="text/plain"), 415),
        ("no content type -> 415", http_msg(body, ctype=None), 415),
        ("body too large -> 413",
         b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/"
         b"timestamp-query\r\nContent-Length: 20000\r\n\r\n", 413),
        ("header too large -> 431",
         http_msg(body, headers=["X-Big: " + "a" * 9000]), 431),
        ("too many headers -> 431",
         http_msg(body, headers=["X-H%d: v" % i for i in range(100)]), 431),
        ("bad request line -> 400", b"FOO\r\n\r\n", 400),
        ("HTTP/2.0 -> 505", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        ("missing Host -> 400", b"GET /health HTTP/1.1\r\n\r\n", 400),
    ]
    for name, raw, want in cases:
        r = exchange(srv.port, raw)
        check(r is not None and r[0] == want, "%s: got %s" % (
            name, r and r[0]))
        if want == 405:
            check(r[1].get("allow") == "POST", "405 names Allow: POST")
    st, h, b = exchange(srv.port, http_msg(method="GET", target="/health",
                                            ctype=None))
    check(st == 200 and b'"status":"ok"' in b, "GET /health: %s %r" % (st, b))
    # Expect: 100-continue, as curl sends for large bodies.
    s, f = connect(srv.port)
    s.sendall(http_msg(b"", headers=["Expect: 100-continue"])
              .replace(b"Content-Length: 0", b"Content-Length: %d" % len(body)))
    st, h, b = read_response(f)
    check(st == 100, "100 Continue: got %s" % st)
    s.sendall(body)
    st, h, b = read_response(f)
    check(st == 200, "after 100 Continue: got %s" % st)
    s.close()

    st, h, b = exchange(srv.port, http_msg(method="GET", target="/metrics",
                                            ctype=None))
    m = dict(re.findall(r"^(carimbo_[a-z_]+(?:\{[^}]*\})?) (\d+)$",
                        b.decode(), re.M))
    check(st == 200 and h.get("content-type", "").startswith("text/plain"),
          "GET /metrics: %s" % st)
    granted = len([x for x in serials if x is not None])
    check(int(m.get("carimbo_tokens_total", -1)) >= granted,
          "metrics: tokens_total %s >= %d" % (m.get("carimbo_tokens_total"),
                                               granted))
    check(int(m.get('carimbo_rejections_total{failinfo="badAlg"}', -1)) == 2,
          "metrics: two badAlg rejections (SHA-1, MD5): %s" % m.get(
              'carimbo_rejections_total{failinfo="badAlg"}'))
    check(int(m.get('carimbo_rejections_total{failinfo="unacceptedPolicy"}',
                    -1)) == 1, "metrics: one unacceptedPolicy")
    check(int(m.get('carimbo_http_responses_total{class="4xx"}', -1)) >= 10,
          "metrics: the HTTP errors are counted")
    # The ledger write histogram: cumulative buckets in rising bounds,
    # +Inf = count = the batches made durable, a plausible mean.
    text = b.decode()
    bk = re.findall(r'^carimbo_ledger_write_seconds_bucket\{le="([^"]+)"\} '
                    r'(\d+)$', text, re.M)
    les = [float(le) for le, _ in bk[:-1]]
    counts = [int(v) for _, v in bk]
    syncs = int(m.get("carimbo_ledger_syncs_total", -1))
    cnt = re.search(r"^carimbo_ledger_write_seconds_count (\d+)$", text, re.M)
    tot = re.search(r"^carimbo_ledger_write_seconds_sum ([0-9.]+)$", text,
                    re.M)
    check(len(bk) == 11 and bk[-1][0] == "+Inf" and les == sorted(les) and
          counts == sorted(counts) and counts[-1] == syncs > 0 and
          cnt is not None and int(cnt.group(1)) == syncs,
          "metrics: ledger write histogram %r, syncs %d" % (bk, syncs))
    if tot is not None and syncs > 0:
        mean = float(tot.group(1)) / syncs
        check(1e-6 < mean < 10, "metrics: mean ledger write %g s" % mean)
    else:
        check(False, "metrics: no carimbo_ledger_write_seconds_sum")

    print("the CA's certificates and CRLs, at the URLs the certificates name")
    tsa_pem = os.path.join(STATE, "tsa-chain.pem")
    ext = run("openssl", "x509", "-in", tsa_pem, "-noout", "-ext",
              "crlDistributionPoints,authorityInfoAccess").stdout.decode()
    urls = re.findall(r"URI:http://[^/]+(/\S+)", ext)
    # The responder's URL (doc/ca.md "OCSP"; ocsp.py asks it).
    check("OCSP - URI:http://127.0.0.1:8318/ocsp\n" in ext,
          "AIA OCSP URL in the TSA certificate: %r" % ext)
    urls = [u for u in urls if u != "/ocsp"]
    check(len(urls) == 2, "CDP and AIA caIssuers URLs in the TSA "
          "certificate: %r" % ext)
    for u in urls:
        st, h, b = exchange(srv.port, http_msg(method="GET", target=u,
                                                ctype=None))
        want = "application/pkix-crl" if u.endswith(".crl") else \
            "application/pkix-cert"
        check(st == 200 and h.get("content-type") == want,
              "GET %s: %s %s" % (u, st, h.get("content-type")))
        f = path("pub.der")
        open(f, "wb").write(b)
        kind = "crl" if u.endswith(".crl") else "x509"
        p = run("openssl", kind, "-inform", "DER", "-in", f, "-noout",
                ok=False)
        check(p.returncode == 0, "openssl %s parses %s" % (kind, u))
        if kind == "x509":
            p = run("openssl", "verify", "-CAfile",
                    os.path.join(STATE, "root.pem"), "-untrusted", tsa_pem,
                    tsa_pem, ok=False)
            check(p.returncode == 0, "the chain verifies")
    st, h, b = exchange(srv.port, http_msg(method="GET",
                                            target="/ca/../pin", ctype=None))
    check(st == 404, "no path tricks under /ca/: %s" % st)

    rc = srv.stop()
    check(rc == 0, "SIGTERM exit status %s" % rc)

    print("serials unique and increasing across a restart")
    srv = Server(conf)
    after = []
    for i in range(5):
        data, q = query("rs%d" % i, "-sha256")
        post_curl(srv.url, q, path("rs%d.tsr" % i))
        after.append(serial_of(path("rs%d.tsr" % i)))
    check(None not in serials + after, "every reply has a serial")
    check(len(set(serials + after)) == len(serials + after),
          "serials unique: %s" % (serials + after))
    check(after == sorted(after) and min(after) > max(serials),
          "after restart serials increase: %s then %s" % (max(serials), after))

    print("SIGTERM finishes what is in flight")
    qs = [query("dr%d" % i, "-sha256")[1] for i in range(30)]
    s, f = connect(srv.port)
    s.sendall(b"".join(http_msg(open(q, "rb").read()) for q in qs))
    first = read_response(f)
    srv.p.send_signal(signal.SIGTERM)
    got = [first] + [read_response(f) for _ in qs[1:]]
    check(all(r is not None and r[0] == 200 for r in got),
          "all 30 in-flight requests answered after SIGTERM")
    check(srv.p.wait(timeout=20) == 0, "exit 0 after drain")
    srv.err.close()
    s.close()

    print("back-pressure, timeouts")
    srv = Server(write_conf("max_inflight = 1\nidle_timeout = 2\n"
                            "read_timeout = 2"))
    s, f = connect(srv.port)
    s.sendall(b"".join(http_msg(open(q, "rb").read()) for q in qs[:8]))
    got = [read_response(f) for _ in range(8)]
    codes = [r[0] for r in got]
    check(codes[0] == 200 and 503 in codes, "503 beyond max_inflight: %s" % codes)
    check(all(r[1].get("retry-after") == "1" for r in got if r[0] == 503),
          "503 carries Retry-After")
    s.close()
    s, f = connect(srv.port)
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
    t0 = time.time()
    r = read_response(f)
    check(r is not None and r[0] == 408 and time.time() - t0 < 6,
          "slow request -> 408 (%s)" % (r and r[0]))
    s.close()
    s, f = connect(srv.port)
    t0 = time.time()
    check(s.recv(1) == b"" and time.time() - t0 < 6, "idle connection closed")
    s.close()
    check(srv.stop() == 0, "exit 0")

    print("a peer that reads nothing is closed and freed")
    # It pipelines and never reads: once its socket buffers and the
    # server's are full, the server's send cannot progress.  Open, the
    # idle timeout must end it; after its EOF (CLOSING), too, and its
    # blocked send then ends with EPIPE on a connection already dead,
    # which must still be freed.  SIGTERM must not wait for either.
    srv = Server(write_conf("idle_timeout = 2\nread_timeout = 2"))
    for mode in ("open", "eof"):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", srv.port))
        s.settimeout(3)
        try:
            s.sendall(b"".join(http_msg(tsq_der(os.urandom(32)),
                                        target="/ers") for _ in range(3000)))
        except socket.timeout:
            pass        # the server stopped reading: back-pressure
        if mode == "eof":
            s.shutdown(socket.SHUT_WR)
        t0 = time.time()
        n = None
        while time.time() - t0 < 12:
            time.sleep(1)
            st, _, body = exchange(srv.port, http_msg(
                method="GET", target="/metrics", ctype=None,
                headers=["Connection: close"]))
            n = int(re.search(rb"\ncarimbo_connections (\d+)",
                              body).group(1))
            if n == 1:  # only the /metrics connection itself
                break
        check(n == 1, "%s: closed and freed after the idle timeout (%s "
              "connections left after %.0f s)" % (mode, n, time.time() - t0))
        s.close()
    t0 = time.time()
    check(srv.stop() == 0 and time.time() - t0 < 5, "exit 0, at once")

    print("qualified policy: ETSI EN 319 422 qcStatements in TSTInfo")
    qc_ext = bytes.fromhex("06082b06010505070103")      # id-pe-qcStatements
    esi4 = bytes.fromhex("06070400819 75e0101".replace(" ", ""))
    for qualified in ("no", "yes"):
        srv = Server(write_conf("qualified = " + qualified))
        data, q = query("qc" + qualified, "-sha256", "-cert")
        r = path("qc%s.tsr" % qualified)
        post_curl(srv.url, q, r)
        body = open(r, "rb").read()
        check(verify(r, q), "qualified=%s verifies" % qualified)
        check((qc_ext in body and esi4 in body) == (qualified == "yes"),
              "qualified=%s: qcStatements with esi4-qtstStatement-1 %s" % (
                  qualified, "present" if qualified == "yes" else "absent"))
        check(srv.stop() == 0, "exit 0")

    print("key_session_copy: workers sign on session copies, or on the key")
    for copy in ("yes", "no"):
        start = os.path.getsize(path("server.log"))
        srv = Server(write_conf("workers = 2\nkey_session_copy = " + copy))
        for i in range(4):
            data, q = query("kc%s%d" % (copy, i), "-sha256", "-cert")
            r = path("kc%s%d.tsr" % (copy, i))
            post_curl(srv.url, q, r)
            check(verify(r, q), "key_session_copy=%s: token %d verifies" % (
                copy, i))
        check(srv.stop() == 0, "exit 0")
        with open(path("server.log"), "rb") as f:
            f.seek(start)
            log = f.read().decode(errors="replace")
        said = 'signing with session copies of key "tsa"' in log
        check(said == (copy == "yes") and "C_CopyObject" not in log,
              "key_session_copy=%s: the log says %s" % (
                  copy, "session copies" if said else "nothing of copies"))

    print("every reply carries a Date (RFC 9110 6.6.1): a token, /ers, "
          "/health, an error")
    srv = Server(conf)
    for name, raw in (
            ("POST /", http_msg(tsq_der(os.urandom(32)))),
            ("POST /ers", http_msg(tsq_der(os.urandom(32)), target="/ers")),
            ("GET /health", http_msg(method="GET", target="/health",
                                     ctype=None)),
            ("404", http_msg(method="GET", target="/nothing", ctype=None))):
        st, hdrs, body = exchange(srv.port, raw)
        d = hdrs.get("date")
        try:
            t = calendar.timegm(time.strptime(d, "%a, %d %b %Y %H:%M:%S GMT"))
        except (TypeError, ValueError):
            t = None
        check(t is not None and abs(t - time.time()) < 5,
              "%s: Date %r is an IMF-fixdate of now" % (name, d))
    check(srv.stop() == 0, "exit 0")

    print("HTTP/1.0 keep-alive (RFC 9112 9.3): asked for, said, kept")
    srv = Server(conf)
    s, f = connect(srv.port)
    for i in range(2):
        s.sendall(b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        st, hdrs, body = read_response(f)
        check(st == 200 and hdrs.get("connection", "").lower() ==
              "keep-alive", "1.0 request %d with keep-alive: 200 and "
              "Connection: keep-alive (%r)" % (i, hdrs.get("connection")))
    s.sendall(b"GET /health HTTP/1.0\r\n\r\n")
    st, hdrs, body = read_response(f)
    check(st == 200 and hdrs.get("connection", "").lower() == "close",
          "1.0 request without keep-alive: Connection: close")
    check(f.read(1) == b"", "then the server closes")
    s.close()
    check(srv.stop() == 0, "exit 0")

    print("round_max_requests bounds a round under any load")
    srv = Server(write_conf("round_max_requests = 2"))
    m0 = exchange(srv.port, http_msg(method="GET", target="/metrics",
                                     ctype=None))[2].decode()
    s, f = connect(srv.port)
    s.sendall(b"".join(http_msg(tsq_der(os.urandom(32))) for _ in range(40)))
    got = [read_response(f) for _ in range(40)]
    s.close()
    check([g[0] for g in got] == [200] * 40, "40 pipelined replies, all 200")
    m1 = exchange(srv.port, http_msg(method="GET", target="/metrics",
                                     ctype=None))[2].decode()
    def rounds(m):
        return int(re.search(r"^carimbo_rounds_total (\d+)$", m,
                             re.M).group(1))
    check(rounds(m1) - rounds(m0) >= 20,
          "40 requests in one write make at least 20 rounds of at most 2 "
          "(%d)" % (rounds(m1) - rounds(m0)))
    check(srv.stop() == 0, "exit 0")

    print("a crash (SIGKILL) never repeats a serial")
    srv = Server(conf)
    before = []
    for i in range(3):
        data, q = query("ck%d" % i, "-sha256")
        post_curl(srv.url, q, path("ck%d.tsr" % i))
        before.append(serial_of(path("ck%d.tsr" % i)))
    srv.p.kill()
    srv.p.wait()
    srv.err.close()
    # Read at the crash: the reserver may have moved it on since the
    # requests (tsa/serial.c reserves ahead, on a thread of its own).
    reserved = int(re.search(r"reserved=(\d+)", open(os.path.join(
        STATE, "serials")).read()).group(1))
    srv = Server(conf)
    data, q = query("ck9", "-sha256")
    post_curl(srv.url, q, path("ck9.tsr"))
    s9 = serial_of(path("ck9.tsr"))
    check(s9 is not None and s9 >> 64 == 1 and (s9 & (2**64 - 1)) == reserved,
          "after SIGKILL the next serial %x starts past the reserved block "
          "(%d; before: %s)" % (s9 or 0, reserved, [hex(b) for b in before]))
    check(srv.stop() == 0, "exit 0")

    print("strict clock mode without a trustworthy clock: timeNotAvailable")
    # No chronyd and no NTP server on this loopback port: the gate cannot
    # measure the clock, so it stays closed whatever the kernel says.
    p = subprocess.Popen([CARIMBO, "serve", "-c", write_conf(
        "clock_chrony = 127.0.0.1:9\nclock_poll_ms = 500"), "--listen",
        "127.0.0.1:0", "--clock-mode", "strict", "--ntp-server",
        "127.0.0.1:9"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = p.stdout.readline().decode()
    port = int(line.rsplit(":", 1)[1])
    data, q = query("strict", "-sha256")
    r = path("strict.tsr")
    out = post_curl("http://127.0.0.1:%d/" % port, q, r)
    text = reply_text(r)
    check(out.startswith("200") and field(text, "Status") == "Rejected." and
          "the TSA's time source is not available" in text,
          "strict mode, clock not measured: timeNotAvailable (%r)" % text)
    check(field(text, "Status description") not in (None, "unspecified"),
          "the statusString says why: %r" % field(text, "Status description"))
    st, h, b = exchange(port, http_msg(method="GET", target="/health",
                                       ctype=None))
    check(st == 503 and b'"status":"unavailable"' in b and b"reason" in b,
          "/health 503 with the reason while the gate is closed: %s %r" % (
              st, b[:200]))
    p.send_signal(signal.SIGTERM)
    check(p.wait(timeout=20) == 0, "exit 0")

    print("%d checks, %d failed" % (checks, len(failures)))
    if failures:
        print("server log:\n" + open(path("server.log")).read()[-3000:])
        sys.exit(1)
    subprocess.run(["rm", "-rf", TMP])


if __name__ == "__main__":
    main()
