#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# `carimbo bench` over https:// refuses what a client must refuse, against
# HAProxy's TLS edge on loopback ports (haproxy.py loads the real units
# through it; here the edge answers by itself, so no unit is needed):
#
#   wrong CA     --cacert of another CA: every handshake fails, counted as
#                connection errors, with the certificate's verdict said
#   wrong name   a certificate for another name than the URL's address
#   no cert      an edge that requires a client certificate and none is
#                given: no answer, connection errors, the alert said
#   controls     the right CA (and on the second edge, a client
#                certificate): the handshake is done, TLS 1.3 named in the
#                report, the edge's answers reach the checker (which finds
#                them no tokens: parse errors, no connection error);
#                --insecure takes the wrong CA's edge
#   usage        --cert without --key, --cacert with http:// (exit 2)
#
# Bounded: a few seconds.
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
from net import free_port  # noqa: E402  (tests/integration/lib)

CARIMBO = os.environ.get("CARIMBO", "build/carimbo")
TMP = tempfile.mkdtemp(prefix="carimbo-bench-tls-")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("  FAIL:", what, flush=True)


def run(*args):
    return subprocess.run(list(args), check=True, capture_output=True,
                          timeout=60)


if shutil.which("haproxy") is None:
    print("bench_tls.py: no haproxy (make deps installs it)")
    sys.exit(1)


def path(name):
    return os.path.join(TMP, name)


EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]


def ca(name):
    run("openssl", "req", "-x509", *EC, "-days", "2", "-subj",
        "/CN=%s" % name, "-addext", "basicConstraints=critical,CA:true",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", path(name + ".key"), "-out", path(name + ".crt"))


def leaf(name, issuer, ext):
    run("openssl", "req", "-new", *EC, "-subj", "/CN=%s" % name,
        "-keyout", path(name + ".key"), "-out", path(name + ".csr"))
    with open(path(name + ".ext"), "w") as f:
        f.write(ext + "\n")
    run("openssl", "x509", "-req", "-in", path(name + ".csr"), "-CA",
        path(issuer + ".crt"), "-CAkey", path(issuer + ".key"),
        "-CAcreateserial", "-days", "2", "-extfile", path(name + ".ext"),
        "-out", path(name + ".crt"))
    with open(path(name + ".pem"), "w") as f:
        f.write(open(path(name + ".crt")).read() +
                open(path(name + ".key")).read())


ca("edge-ca")
ca("other-ca")
ca("client-ca")
leaf("edge", "edge-ca", "subjectAltName=IP:127.0.0.1\n"
     "extendedKeyUsage=serverAuth")
leaf("elsewhere", "edge-ca", "subjectAltName=DNS:tsa.invalid\n"
     "extendedKeyUsage=serverAuth")
leaf("client", "client-ca", "extendedKeyUsage=clientAuth")

OPEN, NAMED, REQUIRED = (free_port() for _ in range(3))
CFG = path("haproxy.cfg")
with open(CFG, "w") as f:
    f.write("""global
	ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets
defaults
	mode http
	timeout connect 2s
	timeout client 10s
	timeout server 10s
frontend edge
	bind 127.0.0.1:%d ssl crt %s alpn http/1.1
	bind 127.0.0.1:%d ssl crt %s alpn http/1.1
	bind 127.0.0.1:%d ssl crt %s alpn http/1.1 verify required ca-file %s
	http-request return status 200 content-type application/timestamp-reply string "not a token"
""" % (OPEN, path("edge.pem"), NAMED, path("elsewhere.pem"), REQUIRED,
       path("edge.pem"), path("client-ca.crt")))
hap = subprocess.Popen(["haproxy", "-db", "-f", CFG],
                       stdout=open(path("haproxy.log"), "wb"),
                       stderr=subprocess.STDOUT)

CONNS = 2
N = 40


def bench(name, port, *extra, want_rc=1):
    js = path(name + ".json")
    p = subprocess.run([CARIMBO, "bench", "--url",
                        "https://127.0.0.1:%d/" % port, "--connections",
                        str(CONNS), "--requests", str(N), "--quiet",
                        "--json", js, *extra], capture_output=True,
                       timeout=30)
    err = p.stderr.decode(errors="replace")
    check(p.returncode == want_rc, "%s: exit %d, want %d: %s" % (
        name, p.returncode, want_rc, err[-600:]))
    try:
        with open(js) as f:
            j = json.load(f)
    except (OSError, ValueError):
        j = {}
    r = j.get("result", {})
    return j, r, r.get("errors_by_kind", {}), err, p.stdout.decode()


def refused(name, j, r, kinds, err, said, in_handshake=True):
    """No answer; only connection errors; said in the log."""
    check(r.get("ok") == 0 and kinds.get("connection", 0) > 0 and
          r.get("errors") == kinds.get("connection"),
          "%s: want connection errors only, no answer: %s" % (name, r))
    check(said in err, "%s: the log does not say %r: %s" % (name, said,
                                                            err[-600:]))
    check(not in_handshake or j.get("tls") is None,
          "%s: TLS said negotiated: %s" % (name, j.get("tls")))


def served(name, j, r, kinds, out):
    """The handshake done: the edge's answers judged, none a token."""
    check(kinds.get("connection") == 0 and kinds.get("parse") == N and
          r.get("sent") == N,
          "%s: want %d parse errors and no connection error: %s" % (
              name, N, r))
    check((j.get("tls") or "").startswith("TLSv1.3 "),
          "%s: JSON tls %r" % (name, j.get("tls")))
    check("over TLS (TLSv1.3 " in out, "%s: report: %s" % (name, out[:300]))


try:
    time.sleep(0.3)
    for port in (OPEN, NAMED, REQUIRED):
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                time.sleep(0.1)
    check(hap.poll() is None, "haproxy did not start")

    # The server's certificate from another CA.
    j, r, kinds, err, _ = bench("wrong-ca", OPEN, "--cacert",
                                path("other-ca.crt"))
    refused("wrong-ca", j, r, kinds, err, "the server's certificate: "
            "unable to get local issuer certificate")
    check(kinds.get("connection") == CONNS and r.get("sent") == 0,
          "wrong-ca: one error per connection, nothing sent: %s" % r)
    # The system's trust store does not hold the edge's CA either.
    j, r, kinds, err, _ = bench("system-ca", OPEN)
    refused("system-ca", j, r, kinds, err, "the server's certificate: ")
    # The right CA, a certificate for another name.
    j, r, kinds, err, _ = bench("wrong-name", NAMED, "--cacert",
                                path("edge-ca.crt"))
    refused("wrong-name", j, r, kinds, err, "the server's certificate: "
            "IP address mismatch")
    # A client certificate required, none given: TLS 1.3's client is
    # done with its handshake when the edge refuses it with an alert
    # (RFC 8446 4.4.2.4), so the requests it sent meanwhile fail.
    j, r, kinds, err, _ = bench("no-cert", REQUIRED, "--cacert",
                                path("edge-ca.crt"))
    refused("no-cert", j, r, kinds, err, "certificate required", False)
    # One of another CA than the edge's client CA.
    j, r, kinds, err, _ = bench("other-cert", REQUIRED, "--cacert",
                                path("edge-ca.crt"), "--cert",
                                path("edge.crt"), "--key", path("edge.key"))
    refused("other-cert", j, r, kinds, err, "unknown ca", False)

    # Controls: the same edges served.
    j, r, kinds, err, out = bench("right-ca", OPEN, "--cacert",
                                  path("edge-ca.crt"))
    served("right-ca", j, r, kinds, out)
    j, r, kinds, err, out = bench("cert", REQUIRED, "--cacert",
                                  path("edge-ca.crt"), "--cert",
                                  path("client.crt"), "--key",
                                  path("client.key"))
    served("cert", j, r, kinds, out)
    j, r, kinds, err, out = bench("insecure", NAMED, "--insecure")
    served("insecure", j, r, kinds, out)

    # Usage.
    for name, args in (
            ("cert without key", ["--url", "https://127.0.0.1:%d/" % OPEN,
                                  "--cert", path("client.crt")]),
            ("cacert with http", ["--url", "http://127.0.0.1:%d/" % OPEN,
                                  "--cacert", path("edge-ca.crt")])):
        p = subprocess.run([CARIMBO, "bench", *args], capture_output=True,
                           timeout=10)
        check(p.returncode == 2, "%s: exit %d, want 2" % (name,
                                                         p.returncode))
finally:
    hap.send_signal(signal.SIGTERM)
    try:
        hap.wait(10)
    except subprocess.TimeoutExpired:
        hap.kill()

if failures:
    print(open(path("haproxy.log"), errors="replace").read()[-1500:])
    print("%d failures" % len(failures))
    sys.exit(1)
shutil.rmtree(TMP)
print("bench_tls: ok")
