# SPDX-License-Identifier: ISC
# The OCSP responder (doc/ca.md "OCSP") judged by outside clients: a demo
# state from `carimbo init --demo`, the real server on a loopback port,
# `openssl ocsp -issuer -cert -url` for good, revoked (reason and time, as
# `ca list` says) and unknown serials of each CA, trusted through the
# chain and with -VAfile; GnuTLS `ocsptool --ask`; `openssl verify
# -crl_check` agreeing with OCSP on the same certificates; a revocation
# answered without a restart; the GET form (RFC 5019 5) with its cache
# header; a renewed responder; a serial never issued answered "unknown",
# signed, with and without a nonce, and tryLater over ocsp_nonce_rate,
# counted; and the malformed: garbage, the wrong content type, bad
# base64, two certificates, a SHA-256 CertID, an unknown issuer
# (unauthorized).
# Needs $CARIMBO (tests/run.sh sets it); exit 77 when a tool is missing.
import base64
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

CARIMBO = os.environ.get("CARIMBO")
MODULE = os.environ.get("CARIMBO_PKCS11_MODULE",
                        "/usr/lib/softhsm/libsofthsm2.so")
FAILS = []
# OCSPResponse { responseStatus } alone (RFC 6960 4.2.1)
MALFORMED = bytes.fromhex("3003 0a01 01")
TRY_LATER = bytes.fromhex("3003 0a01 03")
UNAUTHORIZED = bytes.fromhex("3003 0a01 06")


def skip(why):
    print("skipped: " + why)
    sys.exit(77)


def fail(msg):
    print("FAIL: " + msg)
    FAILS.append(msg)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


def run(*args, ok=True):
    p = subprocess.run(list(args), capture_output=True, text=True)
    if ok and p.returncode != 0:
        fail("%s: exit %d: %s" % (" ".join(args), p.returncode,
                                  (p.stdout + p.stderr).strip()[-600:]))
    return p


def http(url, data=None, ctype=None, method=None):
    """(status, headers, body) of one request."""
    req = urllib.request.Request(url, data=data, method=method)
    if ctype:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def main():
    if not CARIMBO:
        skip("CARIMBO not set")
    if not os.access(MODULE, os.R_OK):
        skip(MODULE + " absent (make deps)")
    for tool in ("openssl", "ocsptool"):
        if shutil.which(tool) is None:
            fail("no %s (make deps installs openssl and gnutls-bin)" % tool)
            sys.exit(1)
    t = tempfile.mkdtemp()
    srv = None
    try:
        srv = body(t)
    finally:
        if srv is not None and srv.poll() is None:
            srv.send_signal(signal.SIGTERM)
            srv.wait(timeout=20)
        shutil.rmtree(t, ignore_errors=True)
    if FAILS:
        print("ocsp.py: %d check(s) failed" % len(FAILS))
        sys.exit(1)
    print("ocsp.py: all checks passed")


NONCE_RATE = 5
NONCE_OID = bytes.fromhex("06092b0601050507300102")


def tlv(tag, content):
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(b)]) + b + content


def with_nonce(req, nonce, raw=None):
    """req (an OCSPRequest without extensions) with nonce in its
    requestExtensions; raw: the extnValue's content instead."""
    assert req[0] == 0x30 and req[2] == 0x30 and req[1] < 0x80
    tbs = req[4:4 + req[3]]
    value = raw if raw is not None else tlv(0x04, nonce)
    ext = tlv(0x30, NONCE_OID + tlv(0x04, value))
    return tlv(0x30, tlv(0x30, tbs + tlv(0xa2, tlv(0x30, ext))))


def echo(nonce):
    """The nonce's Extension as a response carries it (RFC 8954 2.1)."""
    return tlv(0x30, NONCE_OID + tlv(0x04, tlv(0x04, nonce)))


def metric(base, name):
    st, _, out = http(base + "/metrics")
    m = re.search(r"^%s (\d+)$" % re.escape(name), out.decode(), re.M)
    return int(m.group(1)) if m else -1


def nonces(t, url, cas, good, bad, root, chain, base, conf, srv):
    """Nonces by hand: echoed byte for byte, malformed ones refused, and
    over ocsp_nonce_rate the pre-signed answer without one, counted."""
    req = os.path.join(t, "nonce-base.der")
    run("openssl", "ocsp", "-issuer", cas["user"], "-cert", good,
        "-no_nonce", "-reqout", req)
    plain = open(req, "rb").read()
    time.sleep(1.2)        # the bucket full again
    nonce = os.urandom(32)
    st, _, out = http(url, with_nonce(plain, nonce),
                      "application/ocsp-request")
    check(st == 200 and echo(nonce) in out and out[4:7] ==
          b"\x0a\x01\x00", "a 32-byte nonce echoed: %d %r" % (st, out))
    resp = os.path.join(t, "nonce-resp.der")
    with open(resp, "wb") as f:
        f.write(out)
    r = run("openssl", "ocsp", "-respin", resp, "-issuer", cas["user"],
            "-cert", good, "-CAfile", root, "-verify_other", chain,
            "-no_nonce", ok=False)
    check(r.returncode == 0 and "Response verify OK" in r.stderr +
          r.stdout and good + ": good" in r.stdout,
          "the fresh answer verifies: %s %s" % (r.stdout, r.stderr))
    # GET carries a nonce too; its fresh answer is not for caches.
    b64 = base64.b64encode(with_nonce(plain, b"\x01")).decode()
    st, hdr, out = http(url + "/" + urllib.parse.quote(b64, safe=""))
    check(st == 200 and echo(b"\x01") in out and
          "Cache-Control" not in hdr, "GET with a nonce: %d %s" % (st, hdr))
    # RFC 8954 2.1: 1 to 32 octets; others are malformedRequest.
    for name, data in (("33 bytes", with_nonce(plain, b"x" * 33)),
                       ("empty", with_nonce(plain, b"")),
                       ("not an OCTET STRING",
                        with_nonce(plain, None, b"\x02\x01\x05"))):
        st, _, out = http(url, data, "application/ocsp-request")
        check(st == 200 and out == MALFORMED, "nonce %s: %d %r" % (
            name, st, out))
    # A burst over ocsp_nonce_rate: the pre-signed answer, no nonce.
    before = metric(base, 'carimbo_ocsp_nonce_total{answer="without"}')
    echoed0 = metric(base, 'carimbo_ocsp_nonce_total{answer="echoed"}')
    sig0 = metric(base, 'carimbo_signatures_total{kind="ocsp"}')
    got = {True: 0, False: 0}
    for i in range(4 * NONCE_RATE):
        n = os.urandom(16)
        st, _, out = http(url, with_nonce(plain, n),
                          "application/ocsp-request")
        got[echo(n) in out] += 1
    after = metric(base, 'carimbo_ocsp_nonce_total{answer="without"}')
    echoed = metric(base, 'carimbo_ocsp_nonce_total{answer="echoed"}')
    sig = metric(base, 'carimbo_signatures_total{kind="ocsp"}')
    check(got[False] >= 2 * NONCE_RATE and got[True] >= 1 and
          after - before == got[False] and echoed - echoed0 == got[True]
          and sig - sig0 == got[True],
          "over ocsp_nonce_rate: %s; metrics without %d->%d, echoed "
          "%d->%d, signatures %d->%d" % (got, before, after, echoed0,
                                         echoed, sig0, sig))
    # A reload applies ocsp_nonce_rate: 0 signs none, then back.
    for rate, want in ((0, False), (NONCE_RATE, True)):
        with open(conf, "a") as f:
            f.write("ocsp_nonce_rate = %d\n" % rate)
        srv.send_signal(signal.SIGHUP)
        deadline = time.time() + 5
        while True:
            time.sleep(0.3)
            n = os.urandom(8)
            out = http(url, with_nonce(plain, n),
                       "application/ocsp-request")[2]
            if (echo(n) in out) == want or time.time() > deadline:
                break
        check((echo(n) in out) == want and len(out) > 100,
              "after a reload to ocsp_nonce_rate %d: %r" % (rate, out[:40]))
    time.sleep(1.2)


def never_issued():
    """A serial no CA of the demo issued: 16 random bytes (the CA's own
    are 16 random bytes too, so a clash is as likely as guessing one)."""
    return "0x7f" + os.urandom(15).hex().upper()


def unknown_serials(t, url, cas, root, chain, resp_pem):
    """A serial never issued, of each CA: "unknown", signed by the
    issuer's responder, with and without a nonce (RFC 6960 2.2)."""
    time.sleep(1.2)        # the bucket full again
    serial = never_issued()
    for issuer, extra in (("user", ["-no_nonce"]), ("user", []),
                          ("root", []), ("tsa", ["-no_nonce"])):
        r = run("openssl", "ocsp", "-issuer", cas[issuer], "-serial",
                serial, "-url", url, "-CAfile", root, "-verify_other",
                chain, "-resp_text", *extra, ok=False)
        out = r.stdout + r.stderr
        check(r.returncode == 0 and "Response verify OK" in out and
              "WARNING" not in out and
              re.search(r"^%s: unknown$" % serial, r.stdout, re.M) and
              "Cert Status: unknown" in out and
              ("OCSP Nonce" in out) == (extra == []) and
              re.search(r"Next Update: \S", out),
              "unknown serial of the %s CA %s: %s" % (issuer, extra, out))
        time.sleep(0.25)
    # The user CA's responder trusted directly, as `ca ocsp --out` gives.
    r = run("openssl", "ocsp", "-issuer", cas["user"], "-serial", serial,
            "-url", url, "-VAfile", resp_pem, ok=False)
    check(r.returncode == 0 and "Response verify OK" in r.stdout +
          r.stderr and "WARNING" not in r.stdout + r.stderr and
          "%s: unknown" % serial in r.stdout,
          "unknown serial, -VAfile, a nonce: %s %s" % (r.stdout, r.stderr))
    # The nonce echoed byte for byte, by hand.
    req = os.path.join(t, "unknown-req.der")
    run("openssl", "ocsp", "-issuer", cas["user"], "-serial", serial,
        "-no_nonce", "-reqout", req)
    nonce = os.urandom(32)
    st, hdr, out = http(url, with_nonce(open(req, "rb").read(), nonce),
                        "application/ocsp-request")
    check(st == 200 and out[4:7] == b"\x0a\x01\x00" and echo(nonce) in
          out and "Cache-Control" not in hdr,
          "unknown serial, the nonce echoed: %d %r" % (st, out[:40]))
    # GnuTLS: a certificate of a serial never issued, asked and verified.
    # GnuTLS hashes the certificate's issuer name: a stand-in CA of the
    # user CA's name (another key) signs it.
    def q(name):
        return os.path.join(t, name)
    never = q("never.pem")
    run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout",
        "-out", q("fake.key"))
    run("openssl", "x509", "-in", cas["user"], "-x509toreq", "-signkey",
        q("fake.key"), "-out", q("fake.csr"))
    run("openssl", "x509", "-req", "-in", q("fake.csr"), "-signkey",
        q("fake.key"), "-days", "2", "-out", q("fake-ca.pem"))
    run("openssl", "req", "-new", "-key", q("fake.key"), "-subj",
        "/CN=never issued", "-out", q("never.csr"))
    run("openssl", "x509", "-req", "-in", q("never.csr"), "-CA",
        q("fake-ca.pem"), "-CAkey", q("fake.key"), "-set_serial", serial,
        "-days", "2", "-out", never)
    resp = os.path.join(t, "unknown-resp.der")
    r = run("ocsptool", "--ask=" + url, "--nonce", "--load-issuer",
            cas["user"], "--load-cert", never, "--load-trust", cas["user"],
            "--outfile", resp, "--outder", ok=False)
    check(r.returncode == 0 and "Certificate Status: unknown" in r.stdout
          and "Verifying OCSP Response: Success." in r.stdout and
          "Nonce" in r.stdout, "ocsptool --ask, unknown serial: %s %s" % (
              r.stdout[-800:], r.stderr))
    r = run("ocsptool", "-e", "--load-trust", cas["user"], "--infile",
            resp, "--inder", ok=False)
    check(r.returncode == 0 and "Verifying OCSP Response: Success." in
          r.stdout + r.stderr, "ocsptool -e, unknown serial: %s %s" % (
              r.stdout[-800:], r.stderr))


def unknown_rate(t, url, cas, base):
    """Unknown serials draw on ocsp_nonce_rate, the nonces' bucket: a
    burst over it gets tryLater, unsigned, counted."""
    time.sleep(1.2)        # the bucket full again
    req = os.path.join(t, "unknown-burst.der")
    run("openssl", "ocsp", "-issuer", cas["user"], "-serial", never_issued(),
        "-no_nonce", "-reqout", req)
    data = open(req, "rb").read()
    names = ['carimbo_ocsp_unknown_total{answer="signed"}',
             'carimbo_ocsp_unknown_total{answer="trylater"}',
             'carimbo_signatures_total{kind="ocsp"}',
             'carimbo_ocsp_nonce_total{answer="without"}']
    before = [metric(base, n) for n in names]
    got = {"signed": 0, "trylater": 0, "other": 0}
    for i in range(4 * NONCE_RATE):
        st, _, out = http(url, data, "application/ocsp-request")
        if st == 200 and out == TRY_LATER:
            got["trylater"] += 1
        elif st == 200 and out[4:7] == b"\x0a\x01\x00":
            got["signed"] += 1
        else:
            got["other"] += 1
    after = [metric(base, n) for n in names]
    check(got["other"] == 0 and got["trylater"] >= 2 * NONCE_RATE and
          got["signed"] >= 1 and
          after[0] - before[0] == got["signed"] and
          after[1] - before[1] == got["trylater"] and
          after[2] - before[2] == got["signed"] and
          after[3] == before[3] and min(before) >= 0,
          "unknown serials over ocsp_nonce_rate: %s; metrics %s -> %s" % (
              got, before, after))
    time.sleep(1.2)


def body(t):
    state = os.path.join(t, "state")
    conf = os.path.join(state, "carimbo.conf")
    root = os.path.join(state, "root.pem")

    def p(name):
        return os.path.join(t, name)

    run(CARIMBO, "init", "--demo", state)
    # Few nonces a second, so that a burst of them goes over the rate.
    with open(conf, "a") as f:
        f.write("ocsp_nonce_rate = %d\nocsp_nonce_burst = %d\n" % (
            NONCE_RATE, NONCE_RATE))
    srv = subprocess.Popen([CARIMBO, "serve", "-c", conf, "--listen",
                            "127.0.0.1:0"], stdout=subprocess.PIPE,
                           stderr=open(p("server.log"), "ab"))
    m = re.match(r"listening on 127\.0\.0\.1:(\d+)",
                 srv.stdout.readline().decode())
    if not m:
        fail("server did not start: " + open(p("server.log")).read()[-800:])
        return srv
    base = "http://127.0.0.1:%s" % m.group(1)
    url = base + "/ocsp"

    # Each CA's certificate alone, and the chains to verify with.
    cas = {}
    for issuer in ("root", "tsa", "user"):
        st, _, der = http(base + "/ca/%s.crt" % issuer)
        check(st == 200, "GET /ca/%s.crt: %d" % (issuer, st))
        cas[issuer] = p(issuer + "-ca.pem")
        with open(p(issuer + ".der"), "wb") as f:
            f.write(der)
        run("openssl", "x509", "-inform", "DER", "-in", p(issuer + ".der"),
            "-out", cas[issuer])
    chain = p("chain.pem")
    with open(chain, "w") as f:
        f.write(open(cas["tsa"]).read() + open(cas["user"]).read())

    def issue(name, cn):
        out = p(name + ".pem")
        r = run(CARIMBO, "ca", "issue", "-c", conf, "--profile",
                "normalised", "--keygen-on-token", "--subject",
                "/C=PT/CN=" + cn, "--out", out)
        return out, r.stdout.strip()

    good, good_serial = issue("good", "Ana Good")
    bad, bad_serial = issue("bad", "Rui Revoked")

    # RFC 6960 3.1: the responder's URL in the AIA (the demo sets it).
    aia = run("openssl", "x509", "-in", good, "-noout", "-ext",
              "authorityInfoAccess").stdout
    check("OCSP - URI:http://127.0.0.1:8318/ocsp" in aia,
          "AIA id-ad-ocsp of an issued certificate: %r" % aia)

    def ask(cert, issuer, *extra):
        r = run("openssl", "ocsp", "-issuer", cas[issuer], "-cert", cert,
                "-url", url, "-CAfile", root, "-verify_other", chain,
                *extra, ok=False)
        return r.returncode, r.stdout + r.stderr

    # Good, trusted through the chain: the responder's certificate is in
    # the response, issued by the user CA with id-kp-OCSPSigning.
    rc, out = ask(good, "user", "-no_nonce")
    check(rc == 0 and "Response verify OK" in out and
          good + ": good" in out, "openssl ocsp, good: %s" % out)
    m = re.search(r"This Update: (.*)\n\s*Next Update: (.*)\n", out)
    if check(m is not None, "thisUpdate/nextUpdate: %s" % out):
        tu = time.mktime(time.strptime(m.group(1).strip(),
                                       "%b %d %H:%M:%S %Y GMT"))
        nu = time.mktime(time.strptime(m.group(2).strip(),
                                       "%b %d %H:%M:%S %Y GMT"))
        check(nu - tu == 24 * 3600, "nextUpdate = thisUpdate + 24 h: %s" %
              out)
    # A nonce (RFC 8954) is echoed in a response signed anew by the
    # responder (openssl ocsp sends one and checks it by default).
    rc, out = ask(good, "user", "-resp_text")
    check(rc == 0 and "WARNING" not in out and "Response verify OK" in out
          and good + ": good" in out and "OCSP Nonce" in out,
          "openssl ocsp with a nonce: %s" % out)
    nu_nonce = re.search(r"Next Update: (.*)\n", out)
    check(m is not None and nu_nonce is not None and
          nu_nonce.group(1) == m.group(2),
          "the nonce's answer keeps the pre-signed nextUpdate: %s" % out)
    r = run("ocsptool", "--ask=" + url, "--nonce", "--load-issuer",
            cas["user"], "--load-cert", good, "--load-trust", cas["user"],
            ok=False)
    check(r.returncode == 0 and "Certificate Status: good" in r.stdout and
          "Verifying OCSP Response: Success." in r.stdout and
          "Nonce" in r.stdout, "ocsptool --nonce good: %s %s" % (
              r.stdout[-800:], r.stderr))
    # Each CA answers for what it issued.
    tsa = p("tsa.pem")
    with open(tsa, "w") as f:
        f.write(open(os.path.join(state, "tsa-chain.pem")).read().split(
            "-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n")
    rc, out = ask(tsa, "tsa", "-no_nonce")
    check(rc == 0 and tsa + ": good" in out, "TSA certificate: %s" % out)
    rc, out = ask(cas["user"], "root", "-no_nonce")
    check(rc == 0 and ": good" in out, "user CA, asked of the root: %s" %
          out)

    # The responder trusted directly (-VAfile), as `ca ocsp --out` gives.
    resp_pem = p("responders.pem")
    run(CARIMBO, "ca", "ocsp", "-c", conf, "--issuer", "user", "--out",
        resp_pem)
    r = run("openssl", "ocsp", "-issuer", cas["user"], "-cert", good,
            "-url", url, "-VAfile", resp_pem, "-no_nonce", ok=False)
    check(r.returncode == 0 and "Response verify OK" in r.stderr +
          r.stdout and ": good" in r.stdout, "-VAfile: %s %s" % (
              r.stdout, r.stderr))
    txt = run("openssl", "x509", "-in", resp_pem, "-noout", "-text").stdout
    check("OCSP Signing" in txt and "OCSP No Check" in txt,
          "responder: id-kp-OCSPSigning and ocsp-nocheck: %s" % txt)

    # GnuTLS, trusting the user CA.
    r = run("ocsptool", "--ask=" + url, "--load-issuer", cas["user"],
            "--load-cert", good, "--load-trust", cas["user"], ok=False)
    check(r.returncode == 0 and "Certificate Status: good" in r.stdout and
          "Verifying OCSP Response: Success." in r.stdout,
          "ocsptool good: %s %s" % (r.stdout[-600:], r.stderr))

    # Revocation, answered by the running server: no restart.
    run(CARIMBO, "ca", "revoke", "-c", conf, bad_serial, "--reason",
        "keyCompromise")
    listed = run(CARIMBO, "ca", "list", "-c", conf).stdout
    m = re.search(bad_serial + r"\t.*\trevoked (\S+) keyCompromise", listed)
    check(m is not None, "ca list shows the revocation: %s" % listed)
    deadline = time.time() + 5
    while True:
        rc, out = ask(bad, "user", "-no_nonce")
        if ": revoked" in out or time.time() > deadline:
            break
        time.sleep(0.1)
    check(rc == 0 and bad + ": revoked" in out and
          "Reason: keyCompromise" in out, "revoked without a restart: %s" %
          out)
    if m is not None:
        want = time.strftime("%b %e %H:%M:%S %Y GMT", time.strptime(
            m.group(1), "%Y-%m-%dT%H:%M:%SZ")).replace("  ", " ")
        got = re.search(r"Revocation Time: (.*)", out)
        check(got is not None and got.group(1).strip().replace("  ", " ")
              == want, "revocation time %s, ca list %s" % (
                  got and got.group(1), want))
    r = run("ocsptool", "--ask=" + url, "--load-issuer", cas["user"],
            "--load-cert", bad, "--load-trust", cas["user"], ok=False)
    check("Certificate Status: revoked" in r.stdout,
          "ocsptool revoked: %s" % r.stdout[-600:])
    # Revoked with a nonce: the same status, time and reason, echoed.
    rc, nout = ask(bad, "user", "-resp_text")
    check(rc == 0 and "WARNING" not in nout and "OCSP Nonce" in nout and
          bad + ": revoked" in nout and "Reason: keyCompromise" in nout and
          re.search(r"Revocation Time: (.*)", nout).group(1) ==
          re.search(r"Revocation Time: (.*)", out).group(1),
          "revoked with a nonce: %s" % nout)
    r = run("ocsptool", "--ask=" + url, "--nonce", "--load-issuer",
            cas["user"], "--load-cert", bad, "--load-trust", cas["user"],
            ok=False)
    check("Certificate Status: revoked" in r.stdout and
          "Verifying OCSP Response: Success." in r.stdout,
          "ocsptool --nonce revoked: %s" % r.stdout[-600:])

    # The CRL the server publishes agrees with OCSP on both.
    st, _, crl = http(base + "/crl/user.crl")
    with open(p("user.crl"), "wb") as f:
        f.write(crl)
    run("openssl", "crl", "-inform", "DER", "-in", p("user.crl"), "-out",
        p("user-crl.pem"))
    rootcrl = http(base + "/crl/root.crl")[2]
    with open(p("root.crl"), "wb") as f:
        f.write(rootcrl)
    run("openssl", "crl", "-inform", "DER", "-in", p("root.crl"), "-out",
        p("root-crl.pem"))
    crls = p("crls.pem")
    with open(crls, "w") as f:
        f.write(open(p("user-crl.pem")).read() +
                open(p("root-crl.pem")).read())
    for cert, want_ok in ((good, True), (bad, False)):
        r = run("openssl", "verify", "-crl_check", "-CAfile", root,
                "-untrusted", cas["user"], "-CRLfile", crls, cert, ok=False)
        check((r.returncode == 0) == want_ok and
              (want_ok or "certificate revoked" in r.stdout + r.stderr),
              "openssl verify -crl_check %s: %s %s" % (cert, r.stdout,
                                                      r.stderr))

    # GET (RFC 5019 5): the same answer, with how long to cache it.
    req = p("req.der")
    run("openssl", "ocsp", "-issuer", cas["user"], "-cert", bad,
        "-no_nonce", "-reqout", req)
    b64 = base64.b64encode(open(req, "rb").read()).decode()
    st, hdr, der = http(url + "/" + urllib.parse.quote(b64, safe=""))
    check(st == 200 and hdr.get("Content-Type") ==
          "application/ocsp-response", "GET: %d %s" % (st, hdr))
    cc = hdr.get("Cache-Control", "")
    m = re.match(r"max-age=(\d+), public, no-transform, must-revalidate$",
                 cc)
    check(m is not None and 0 < int(m.group(1)) <= 24 * 3600,
          "GET Cache-Control: %r" % cc)
    with open(p("get.der"), "wb") as f:
        f.write(der)
    r = run("openssl", "ocsp", "-respin", p("get.der"), "-issuer",
            cas["user"], "-cert", bad, "-CAfile", root, "-verify_other",
            chain, "-no_nonce", ok=False)
    check(bad + ": revoked" in r.stdout, "GET answer: %s %s" % (
        r.stdout, r.stderr))
    # base64 left unescaped, as some clients send it
    st, _, der2 = http(url + "/" + b64.replace("=", ""))
    check(st == 200 and der2 == der, "GET unescaped base64: %d" % st)

    unknown_serials(t, url, cas, root, chain, resp_pem)

    # Unknown issuer, SHA-256 CertID: nothing pre-signed covers them, and
    # no issuer served: unauthorized, unsigned (RFC 6960 2.3).
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:P-256", "-nodes", "-keyout", p("o.key"),
        "-subj", "/CN=other CA", "-days", "2", "-out", p("other.pem"))
    r = run("openssl", "ocsp", "-issuer", p("other.pem"), "-cert", good,
            "-url", url, "-no_nonce", ok=False)
    check("Responder Error: unauthorized (6)" in r.stdout + r.stderr,
          "unknown issuer: %s %s" % (r.stdout, r.stderr))
    r = run("openssl", "ocsp", "-sha256", "-issuer", cas["user"], "-cert",
            good, "-url", url, "-no_nonce", ok=False)
    check("Responder Error: unauthorized (6)" in r.stdout + r.stderr,
          "SHA-256 CertID: %s %s" % (r.stdout, r.stderr))

    # Malformed: each an OCSPResponse malformedRequest or an HTTP error.
    two = p("two.der")
    run("openssl", "ocsp", "-issuer", cas["user"], "-cert", good, "-cert",
        bad, "-no_nonce", "-reqout", two)
    r = run("openssl", "ocsp", "-issuer", cas["user"], "-cert", good,
            "-cert", bad, "-url", url, "-no_nonce", ok=False)
    check("Responder Error: malformedrequest (1)" in r.stdout + r.stderr,
          "two certificates (ocsp_max_certs 1): %s %s" % (r.stdout,
                                                          r.stderr))
    for name, data in (("garbage", b"garbage"), ("empty", b""),
                       ("truncated", open(req, "rb").read()[:-1]),
                       ("two", open(two, "rb").read())):
        st, hdr, out = http(url, data, "application/ocsp-request")
        check(st == 200 and out == MALFORMED and hdr.get("Content-Type") ==
              "application/ocsp-response", "POST %s: %d %r" % (name, st,
                                                               out))
    st, _, _ = http(url, open(req, "rb").read(), "text/plain")
    check(st == 415, "wrong content type: %d" % st)
    st, _, _ = http(url, open(req, "rb").read(), None)
    check(st == 415, "no content type: %d" % st)
    for bad64 in ("@@@@", "QUJD%", "QQ===", "QR==", "-_-_"):
        st, _, out = http(url + "/" + bad64)
        check(st == 200 and out == MALFORMED, "GET bad base64 %s: %d %r" %
              (bad64, st, out))
    st, hdr, _ = http(url, method="GET")
    check(st == 405 and hdr.get("Allow") == "POST", "GET /ocsp: %d" % st)
    st, _, _ = http(url + "/" + b64, open(req, "rb").read(),
                    "application/ocsp-request")
    check(st == 405, "POST /ocsp/<base64>: %d" % st)

    nonces(t, url, cas, good, bad, root, chain, base, conf, srv)
    unknown_rate(t, url, cas, base)

    # `carimbo bench --ocsp`: every answer judged (the first by OpenSSL,
    # the rest byte for byte the same), POST and GET; a request nothing
    # answers counts as an error.
    import json
    reqs = p("reqs.der")
    with open(reqs, "wb") as f:
        f.write(open(req, "rb").read())
        good_req = p("good-req.der")
        run("openssl", "ocsp", "-issuer", cas["user"], "-cert", good,
            "-no_nonce", "-reqout", good_req)
        f.write(open(good_req, "rb").read())
    for mode in ([], ["--get"]):
        js = p("bench.json")
        r = run(CARIMBO, "bench", "--url", url, "--ocsp", reqs, *mode,
                "--connections", "4", "--requests", "400", "--quiet",
                "--json", js)
        res = json.load(open(js))["result"] if r.returncode == 0 else {}
        check(res.get("ok") == 400 and res.get("sent") == 400,
              "bench --ocsp %s: %s %s" % (mode, res, r.stderr[-400:]))
    # Another issuer's: unauthorized answers are errors.
    unknown = p("unknown.der")
    run("openssl", "ocsp", "-issuer", p("other.pem"), "-serial", "0x1234",
        "-no_nonce", "-reqout", unknown)
    r = run(CARIMBO, "bench", "--url", url, "--ocsp", unknown,
            "--requests", "10", "--quiet", ok=False)
    check(r.returncode != 0, "bench --ocsp, unauthorized answers: exit %d" %
          r.returncode)
    # A serial never issued: "unknown", signed anew each time, each read;
    # within ocsp_nonce_burst every one is answered.
    time.sleep(1.2)
    never = p("never-req.der")
    run("openssl", "ocsp", "-issuer", cas["user"], "-serial", never_issued(),
        "-no_nonce", "-reqout", never)
    js = p("bench-unknown.json")
    r = run(CARIMBO, "bench", "--url", url, "--ocsp", never, "--requests",
            str(NONCE_RATE - 1), "--connections", "1", "--quiet", "--json",
            js)
    res = json.load(open(js))["result"] if r.returncode == 0 else {}
    check(res.get("ok") == NONCE_RATE - 1, "bench --ocsp, unknown: %s %s" %
          (res, r.stderr[-400:]))

    # Refresh: a response within ocsp_refresh_hours (8) of its nextUpdate
    # is signed again by `ca ocsp`, the others are left alone; a deleted
    # file is written again by any command (the database is the truth).
    import sqlite3
    db = os.path.join(state, "ca", "ca.db")
    con = sqlite3.connect(db)
    before = dict(con.execute("SELECT serial, next_update FROM ocsp"))
    con.execute("UPDATE ocsp SET next_update = ? WHERE serial = ?",
                (int(time.time()) + 3600, good_serial))
    con.commit()
    con.close()
    run(CARIMBO, "ca", "ocsp", "-c", conf)
    con = sqlite3.connect(db)
    after = dict(con.execute("SELECT serial, next_update FROM ocsp"))
    con.close()
    check(after[good_serial] >= int(time.time()) + 24 * 3600 - 60,
          "ca ocsp re-signs a response near its nextUpdate: %s" %
          after.get(good_serial))
    check(all(after[k] == v for k, v in before.items() if k != good_serial),
          "ca ocsp leaves responses that are not due")
    rsp = os.path.join(state, "ca", "pub", "ocsp", "user.rsp")
    os.unlink(rsp)
    run(CARIMBO, "ca", "list", "-c", conf)
    check(os.path.exists(rsp), "ca list writes ocsp/user.rsp again")

    # A new responder: responses signed again by it, still trusted.
    old = open(resp_pem).read()
    run(CARIMBO, "ca", "ocsp", "-c", conf, "--issuer", "user", "--renew",
        "--out", resp_pem)
    check(open(resp_pem).read() != old, "ca ocsp --renew: a new responder")
    deadline = time.time() + 5
    while True:
        r = run("openssl", "ocsp", "-issuer", cas["user"], "-cert", good,
                "-url", url, "-VAfile", resp_pem, "-no_nonce", ok=False)
        if "Response verify OK" in r.stdout + r.stderr or \
                time.time() > deadline:
            break
        time.sleep(0.1)
    check("Response verify OK" in r.stdout + r.stderr and
          ": good" in r.stdout, "signed by the renewed responder: %s %s" %
          (r.stdout, r.stderr))
    # ... and a nonce is signed with the renewed responder's key.
    r = run("openssl", "ocsp", "-issuer", cas["user"], "-cert", good,
            "-url", url, "-VAfile", resp_pem, ok=False)
    check("Response verify OK" in r.stdout + r.stderr and "WARNING" not in
          r.stdout + r.stderr and ": good" in r.stdout,
          "a nonce signed by the renewed responder: %s %s" % (r.stdout,
                                                              r.stderr))
    check(srv.poll() is None, "the server still runs")
    return srv


if __name__ == "__main__":
    main()
