#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# The signing token failing (doc/design.md "The token failing"): the real
# server signs through tests/tools/p11fault.c, a PKCS#11 module that
# forwards to SoftHSM2 and fails on command, with two workers.
#
# 1. CKR_DEVICE_ERROR, sessions lost (CKR_SESSION_HANDLE_INVALID, every
#    session closed below), the token gone (CKR_TOKEN_NOT_PRESENT): / and
#    /ers get systemFailure, never a token; /health answers 503 with the
#    reason; once the fault clears the server comes back by itself (a new
#    session, logged in again, the key copied again) and its token
#    verifies with openssl ts -verify.
# 2. The login refused after a reset (CKR_PIN_INCORRECT): 503 with the
#    reason, the PIN not offered again until pin_file changes, then back.
# 3. A C_Sign that hangs: /health and the other worker go on at once; the
#    request gets systemFailure within sign_timeout_ms (plus the loop's
#    one-second timer) and /health names the stuck worker; both workers
#    hung: 503; the fault cleared: back, and the late signatures never
#    leave.
# 4. An OCSP request with a nonce while the token fails: the pre-signed
#    response, without the nonce; the fault cleared: the nonce echoed.
#    One for a serial never issued: tryLater, unsigned; the fault
#    cleared: "unknown", signed.
# 5. The ledger verifies, proves every token granted, and holds every
#    POST / request whose round closed, refused ones included.
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve as S  # noqa: E402

MODULE = os.path.join(os.path.dirname(os.path.abspath(S.CARIMBO)), "tests",
                      "p11fault.so")
CTL = S.path("p11fault.ctl")
TIMEOUT_MS = 2000
exchange_secs = 0.0     # of the last request, its query made already
sent_std = 0           # POST / requests answered after parsing
granted = []           # (reply, query) of every token granted


def ctl(words):
    """The module's faults from now on: a new file, so a new inode."""
    tmp = CTL + ".new"
    with open(tmp, "w") as f:
        f.write(words + "\n")
    os.rename(tmp, CTL)


def health(port):
    st, h, b = S.exchange(port, S.http_msg(method="GET", target="/health",
                                           ctype=None))
    return st, json.loads(b)


def wait_health(port, status, within, what, reason=""):
    """Polls /health until it answers status with reason in its reason."""
    end = time.time() + within
    while True:
        st, js = health(port)
        if (st == status and reason in js.get("reason", "")) or \
                time.time() > end:
            S.check(st == status and reason in js.get("reason", ""),
                    "%s: /health %d (%r) within %.1f s, got %d %r" % (
                        what, status, reason, within, st, js))
            return js
        time.sleep(0.1)


def stamp(port, name, target="/", s=None, f=None):
    """One request; returns (text of openssl ts -reply -text, reply path,
    query path, content type)."""
    global sent_std, exchange_secs
    data, q = S.query(name, "-sha256", "-cert")
    t0 = time.time()
    if s is None:
        st, h, b = S.exchange(port, S.http_msg(open(q, "rb").read(),
                                               target=target))
    else:
        s.sendall(S.http_msg(open(q, "rb").read(), target=target))
        st, h, b = S.read_response(f)
    exchange_secs = time.time() - t0
    if target == "/":
        sent_std += 1
    r = S.path(name + ".tsr")
    open(r, "wb").write(b)
    S.check(st == 200, "%s: HTTP 200, got %d" % (name, st))
    ctype = h.get("content-type")
    if ctype != "application/timestamp-reply":
        return "", r, q, ctype
    return S.reply_text(r), r, q, ctype


def check_refused(port, name, why, target="/"):
    text, r, q, ctype = stamp(port, name, target)
    S.check(ctype == "application/timestamp-reply",
            "%s: a TimeStampResp, not %r" % (name, ctype))
    S.check(S.field(text, "Status") == "Rejected." and
            "the request cannot be handled due to system failure" in text,
            "%s: systemFailure, never a token: %r" % (name, text))
    S.check(why in text, "%s: statusString %r in %r" % (name, why, text))


def check_granted(port, name):
    text, r, q, ctype = stamp(port, name)
    ok = S.field(text, "Status") == "Granted." and S.verify(r, q)
    S.check(ok, "%s: a token that openssl ts -verify accepts: %r" % (
        name, text[:300]))
    if ok:
        granted.append((r, q))


NONCE_EXT = bytes.fromhex("06092b0601050507300102")   # id-pkix-ocsp-nonce


def ocsp_nonce_setup():
    """A request with a nonce for the TSA certificate, and the CA's
    pre-signed responses of the tsa CA."""
    pub = os.path.join(S.STATE, "ca", "pub")
    S.run("openssl", "x509", "-inform", "DER", "-in",
          os.path.join(pub, "ca", "tsa.crt"), "-out", S.path("tsaca.pem"))
    chain = open(os.path.join(S.STATE, "tsa-chain.pem")).read()
    with open(S.path("tsa.pem"), "w") as f:
        f.write(chain.split("-----END CERTIFICATE-----")[0] +
                "-----END CERTIFICATE-----\n")
    S.run("openssl", "ocsp", "-issuer", S.path("tsaca.pem"), "-cert",
          S.path("tsa.pem"), "-reqout", S.path("nonce.der"))
    return open(S.path("nonce.der"), "rb").read()


def ocsp_nonce(port, req, what, echoed):
    st, _, b = S.exchange(port, S.http_msg(req, target="/ocsp",
                                           ctype="application/ocsp-request"))
    rsp = open(os.path.join(S.STATE, "ca", "pub", "ocsp", "tsa.rsp"),
               "rb").read()
    if echoed:
        ok = st == 200 and NONCE_EXT in b and b not in rsp
    else:
        ok = st == 200 and len(b) > 100 and b in rsp and NONCE_EXT not in b
    S.check(ok, "%s: OCSP with a nonce: %d, %s: %r" % (
        what, st, "echoed" if echoed else "the pre-signed answer", b[:40]))


def ocsp_unknown(port, req, what, signed):
    st, _, b = S.exchange(port, S.http_msg(req, target="/ocsp",
                                           ctype="application/ocsp-request"))
    if signed:
        # successful, and certStatus unknown [2] after the CertID asked
        cid = req[req.index(b"\x30\x09\x06\x05\x2b\x0e") - 2:]
        cid = cid[:cid[1] + 2]
        ok = st == 200 and b[4:7] == b"\x0a\x01\x00" and \
            cid + b"\x82\x00" in b
    else:
        ok = st == 200 and b == bytes.fromhex("30030a0103")
    S.check(ok, "%s: OCSP for a serial never issued: %d, %s: %r" % (
        what, st, "unknown" if signed else "tryLater", b[:40]))


def faults(port):
    req = ocsp_nonce_setup()
    ocsp_nonce(port, req, "sound", True)
    S.run("openssl", "ocsp", "-issuer", S.path("tsaca.pem"), "-serial",
          "0x7f" + os.urandom(15).hex(), "-no_nonce", "-reqout",
          S.path("unknown.der"))
    unknown = open(S.path("unknown.der"), "rb").read()
    ocsp_unknown(port, unknown, "sound", True)
    for word, ckr in (("device_error", "CKR_DEVICE_ERROR"),
                      ("session_invalid", "CKR_SESSION_HANDLE_INVALID"),
                      ("token_not_present", "CKR_TOKEN_NOT_PRESENT")):
        print("%s: systemFailure, /health 503 with the reason, then back"
              % ckr)
        ctl(word)
        check_refused(port, word, "the signing key is not available")
        check_refused(port, word + "-ers", "the signing key is not available",
                      target="/ers")
        js = wait_health(port, 503, 5, word, ckr)
        S.check(js.get("status") == "unavailable" and
                js.get("reason", "").startswith("signing token: ") and
                ckr in js.get("reason", ""),
                "%s: /health names it: %r" % (word, js.get("reason")))
        S.check(js.get("signing", {}).get("signing") == 0,
                "%s: no worker signs: %r" % (word, js.get("signing")))
        ocsp_nonce(port, req, word, False)
        ocsp_unknown(port, unknown, word, False)
        ctl("")
        wait_health(port, 200, 5, word + " cleared")
        check_granted(port, word + "-back")
        ocsp_nonce(port, req, word + " cleared", True)
        ocsp_unknown(port, unknown, word + " cleared", True)


def pin(port, state):
    print("CKR_PIN_INCORRECT at the login after a reset: not offered again "
          "until pin_file changes")
    ctl("session_invalid pin_incorrect")
    check_refused(port, "pin", "the signing key is not available")
    ctl("pin_incorrect")
    js = wait_health(port, 503, 5, "pin_incorrect", "CKR_PIN_INCORRECT")
    S.check("C_Login: CKR_PIN_INCORRECT" in js.get("reason", ""),
            "the login's refusal named: %r" % js.get("reason"))
    ctl("")
    time.sleep(2.5)            # two retries' worth: the PIN is not offered
    st, js = health(port)
    S.check(st == 503 and "until pin_file changes" in js.get("reason", ""),
            "a refused PIN waits for pin_file: %d %r" % (st, js.get("reason")))
    pf = os.path.join(state, "pin")
    body = open(pf, "rb").read()
    with open(pf + ".new", "wb") as f:
        f.write(body)
    os.chmod(pf + ".new", 0o600)
    os.rename(pf + ".new", pf)
    wait_health(port, 200, 5, "pin_file rewritten")
    check_granted(port, "pin-back")


def hang(port):
    print("a C_Sign that hangs: /health and the other worker go on; "
          "systemFailure after sign_timeout_ms")
    ctl("hang_once")
    out = {}
    sa, fa = S.connect(port)
    sa.settimeout(15)

    def hung():
        out["text"] = stamp(port, "hung", s=sa, f=fa)[0]
        out["secs"] = exchange_secs

    t = threading.Thread(target=hung)
    t.start()
    time.sleep(0.3)
    t0 = time.time()
    st, js = health(port)
    secs = time.time() - t0
    S.check(st == 200 and secs < 1.0 and t.is_alive(),
            "/health beside a hung C_Sign: %d in %.3f s, the hung request "
            "still waiting: %s" % (st, secs, t.is_alive()))
    check_granted(port, "other-worker")
    S.check(exchange_secs < 1.5 and t.is_alive(),
            "the other worker signs while one hangs (%.3f s), the hung "
            "request still waiting: %s" % (exchange_secs, t.is_alive()))
    t.join(timeout=15)
    S.check("text" in out and TIMEOUT_MS / 1000.0 <= out["secs"] <
            TIMEOUT_MS / 1000.0 + 3,
            "the hung request answered within sign_timeout_ms and a timer "
            "tick: %r s" % out.get("secs"))
    text = out.get("text", "")
    S.check(S.field(text, "Status") == "Rejected." and
            "did not answer in time" in text and
            "system failure" in text, "the hung request: systemFailure: %r" %
            text)
    st, js = health(port)
    sg = js.get("signing", {})
    S.check(st == 200 and sg.get("stuck") == 1 and sg.get("signing") == 1 and
            "in the token for over" in sg.get("why", ""),
            "/health names the stuck worker: %d %r" % (st, sg))
    check_granted(port, "beside-stuck")

    print("both workers hung: 503, then back")
    ctl("hang")
    check_refused(port, "all-hung", "did not answer in time")
    js = wait_health(port, 503, 5, "both hung", "in the token")
    S.check("signing token: 2 workers in the token for over" in
            js.get("reason", ""), "both stuck named: %r" % js.get("reason"))
    ctl("")
    wait_health(port, 200, 5, "hang cleared")
    check_granted(port, "hang-back")
    # The late signatures went nowhere: nothing more on that connection.
    sa.settimeout(0.5)
    try:
        extra = sa.recv(100)
    except socket.timeout:
        extra = b"(none)"
    S.check(extra == b"(none)", "nothing after the refusal: %r" % extra)
    sa.close()


def main():
    if not os.path.exists(MODULE):
        print("%s is missing: make test builds it" % MODULE)
        sys.exit(1)
    S.run(S.CARIMBO, "init", "--demo", S.STATE)
    conf = S.write_conf("pkcs11_module = %s\nworkers = 2\n"
                        "sign_timeout_ms = %d\nclock_audit_log = none\n"
                        "anchor_seconds = 0" % (MODULE, TIMEOUT_MS))
    os.environ["P11FAULT_CTL"] = CTL
    os.environ["P11FAULT_HANG_MAX_MS"] = "20000"
    ctl("")
    srv = S.Server(conf)
    check_granted(srv.port, "first")
    faults(srv.port)
    pin(srv.port, S.STATE)
    hang(srv.port)
    S.check(srv.stop() == 0, "exit 0")

    log = open(S.path("server.log")).read()
    S.check("a session copy of the key" in log and
            "the token signs again" in log,
            "the log says the key was copied again")
    S.check(re.search(r"refused \(systemFailure\) after its ledger records "
                      r"were written", log), "the log counts the refusals "
            "after the records")
    led = os.path.join(S.STATE, "ledger")
    p = S.run(S.CARIMBO, "ledger", "verify", led, ok=False)
    out = p.stdout.decode()
    S.check(p.returncode == 0, "ledger verify: %s" % out)
    S.check("%d standard tokens" % sent_std in out,
            "the ledger holds all %d POST / requests, refused ones "
            "included: %s" % (sent_std, out))
    for r, q in granted:
        p = S.run(S.CARIMBO, "ledger", "prove", led, "--token", r, ok=False)
        S.check(p.returncode == 0, "%s proven in the ledger" % r)
    print("%d granted, %d POST / in all" % (len(granted), sent_std))
    print("%d checks, %d failed" % (S.checks, len(S.failures)))
    if S.failures:
        print("server log:\n" + log[-4000:])
        sys.exit(1)
    subprocess.run(["rm", "-rf", S.TMP])


if __name__ == "__main__":
    main()
