#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# Rotating the TSA key without downtime (doc/design.md "Reload",
# doc/ledger.md "Certificates"), as doc/operations.md tells an operator:
# `carimbo ca issue --profile tsa --unit-id 1 --rotate --keygen-on-token` makes a new key on the
# token and its certificate from the same TSA CA, the config names the new
# key and chain, SIGHUP.  While `carimbo bench` loads `/` and `/ers`:
#
# - the reload goes in place, and every worker opens a session on the new
#   key at its first job of the new template;
# - the bench sees no error; a token before verifies with the old chain and
#   carries the old certificate, one after with the new chain and the new
#   certificate (openssl ts -verify);
# - the ledger holds two certificate records, the second at the first
#   round signed with the new key, its payload exactly the new certificate;
#   `ledger verify` with the root checks them, and `ledger prove --batch`
#   proves every saved answer of both keys;
# - a config naming a key the token does not hold is refused, and the
#   running key stays;
# - a restart with the same key adds no certificate record.
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve as S  # noqa: E402

BENCH_SECONDS = 8


def pem_certs(p):
    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----"
                      r"\n?", open(p).read(), re.S)


def der_of(pem_file):
    return S.run("openssl", "x509", "-in", pem_file, "-outform",
                 "DER").stdout


def token_cert_der(r):
    """The DER of the first certificate the token carries (certReq)."""
    t = S.path("tok.der")
    S.run("openssl", "ts", "-reply", "-in", r, "-token_out", "-out", t)
    p = S.run("openssl", "pkcs7", "-inform", "DER", "-in", t, "-print_certs")
    first = pem_certs_text(p.stdout.decode())
    f = S.path("first.pem")
    with open(f, "w") as o:
        o.write(first[0] if first else "")
    return der_of(f) if first else b""


def pem_certs_text(text):
    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE"
                      r"-----\n?", text, re.S)


def verify_with(r, q, chain):
    p = S.run("openssl", "ts", "-verify", "-in", r, "-queryfile", q,
              "-CAfile", os.path.join(S.STATE, "root.pem"), "-untrusted",
              chain, ok=False)
    return p.returncode == 0 and b"Verification: OK" in p.stdout


def stamp(srv, name):
    data, q = S.query(name, "-sha256", "-cert")
    r = S.path(name + ".tsr")
    out = S.post_curl(srv.url, q, r)
    S.check(out.startswith("200 application/timestamp-reply"),
            "%s: HTTP %s" % (name, out))
    return q, r


def log_since(mark):
    with open(S.path("server.log"), errors="replace") as f:
        return f.read()[mark:]


def log_len():
    return len(open(S.path("server.log"), errors="replace").read())


def hup(srv, want, within=10):
    """SIGHUP; waits for a log line with want (or a refusal)."""
    mark = log_len()
    srv.p.send_signal(signal.SIGHUP)
    end = time.time() + within
    while time.time() < end:
        new = log_since(mark)
        if want in new or "reload refused" in new:
            time.sleep(0.2)
            return log_since(mark)
        time.sleep(0.05)
    return log_since(mark)


def set_conf(conf, base, **kv):
    text = base
    for k, v in kv.items():
        text, n = re.subn(r"(?m)^%s\s*=.*$" % k, "%s = %s" % (k, v), text)
        if n == 0:
            text += "\n%s = %s\n" % (k, v)
    with open(conf, "w") as f:
        f.write(text)


def ledger_verify():
    p = S.run(S.CARIMBO, "ledger", "verify", os.path.join(S.STATE, "ledger"),
              "--ca", os.path.join(S.STATE, "root.pem"), ok=False)
    return p.returncode, p.stdout.decode() + p.stderr.decode()


def main():
    S.run(S.CARIMBO, "init", "--demo", S.STATE)
    conf = os.path.join(S.STATE, "carimbo.conf")
    base = open(conf).read()
    old_chain = os.path.join(S.STATE, "tsa-chain.pem")
    srv = S.Server(conf)
    q0, r0 = stamp(srv, "before")

    print("bench on / and /ers across a key rotation")
    benches = []
    for target, conns in (("", 6), ("ers", 2)):
        js = S.path("bench-%s.json" % (target or "std"))
        saved = S.path("saved-%s" % (target or "std"))
        b = subprocess.Popen([S.CARIMBO, "bench", "--url", srv.url + target,
                              "--connections", str(conns), "--duration",
                              str(BENCH_SECONDS), "-c", conf, "--quiet",
                              "--json", js, "--save", saved],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        benches.append((target or "/", b, js, saved))
    time.sleep(2)

    new_pem = S.path("tsa-2.pem")
    S.run(S.CARIMBO, "ca", "issue", "-c", conf, "--profile", "tsa",
          "--unit-id", "1", "--rotate",
          "--keygen-on-token", "--key-label", "tsa-2", "--subject",
          "/C=PT/O=carimbo demo/CN=carimbo demo TSU 1", "--out", new_pem)
    new_chain = os.path.join(S.STATE, "tsa-2-chain.pem")
    with open(new_chain, "w") as f:
        f.write("".join(pem_certs(new_pem) + pem_certs(old_chain)[1:]))
    set_conf(conf, base, key_label="tsa-2", tsa_chain="tsa-2-chain.pem")
    new = hup(srv, "reload: in place")
    S.check("reload: in place" in new and 'of key "tsa-2"' in new,
            "the rotation went in place: %s" % new[-1500:])
    q1, r1 = stamp(srv, "after")
    time.sleep(0.5)
    new = log_since(0)
    S.check(re.search(r'signing worker 1: signs with key "tsa-2" from now '
                      r'on', new) is not None,
            "the worker took the new key: %s" % new[-1500:])
    S.check('reload: the TSA certificate of key "tsa-2" is new to the '
            'ledger: the next round records it' in new,
            "the switch said: %s" % new[-1500:])

    print("tokens of both keys verify, each with its certificate")
    S.check(verify_with(r0, q0, old_chain) and
            token_cert_der(r0) == der_of(old_chain),
            "the token before: old key, old certificate")
    S.check(verify_with(r1, q1, new_chain) and
            token_cert_der(r1) == der_of(new_pem),
            "the token after: new key, new certificate")
    S.check(not verify_with(r1, q1, old_chain) or
            token_cert_der(r1) != der_of(old_chain),
            "the token after is not of the old certificate")

    print("a key the token does not hold: refused, the key stays")
    set_conf(conf, base, key_label="nope", tsa_chain="tsa-2-chain.pem")
    new = hup(srv, "reload refused")
    S.check('reload refused: no key "nope" on token' in new,
            "no such key: %s" % new[-800:])
    set_conf(conf, base, key_label="tsa", tsa_chain="tsa-2-chain.pem")
    new = hup(srv, "reload refused")
    S.check("reload refused" in new and
            'the TSA certificate is not of key "tsa"' in new,
            "the old key with the new certificate: %s" % new[-800:])
    q2, r2 = stamp(srv, "kept")
    S.check(verify_with(r2, q2, new_chain) and
            token_cert_der(r2) == der_of(new_pem),
            "after the refusals the new key still signs")
    set_conf(conf, base, key_label="tsa-2", tsa_chain="tsa-2-chain.pem")

    for target, b, js, saved in benches:
        b.wait(BENCH_SECONDS + 60)
        err = b.stderr.read().decode()
        j = json.load(open(js))
        S.check(b.returncode == 0 and j["errors"] == 0 and
                j["result"]["ok"] > 0 and
                j["result"]["sent"] == j["result"]["ok"],
                "bench %s across the rotation: exit %d, %s errors, %s: %s" %
                (target, b.returncode, j.get("errors"), j.get("result"),
                 err[-500:]))
        print("  bench %s: %d answers, %s errors" % (
            target, j["result"]["ok"], j.get("errors")))
    S.check(srv.stop() == 0, "server stopped cleanly")

    print("the ledger: two certificate records, every answer proven")
    rc, out = ledger_verify()
    m = re.search(r"certificates (\d+)\)", out)
    S.check(rc == 0 and m is not None and int(m.group(1)) == 2,
            "ledger verify: two certificates: %s" % out)
    both = S.path("both-chains.pem")
    with open(both, "w") as f:
        f.write("".join(pem_certs(old_chain) + pem_certs(new_pem)))
    for target, b, js, saved in benches:
        kind = "--er" if target == "ers" else "--token"
        p = S.run(S.CARIMBO, "ledger", "prove", os.path.join(S.STATE,
                  "ledger"), "--batch", kind, saved, "--ca",
                  os.path.join(S.STATE, "root.pem"), "--untrusted", both,
                  ok=False)
        S.check(p.returncode == 0, "ledger prove --batch %s %s: %s" % (
            kind, target, (p.stdout + p.stderr).decode()[-800:]))
    for name, r in (("before", r0), ("after", r1)):
        p = S.run(S.CARIMBO, "ledger", "prove", os.path.join(S.STATE,
                  "ledger"), "--token", r, "--ca", os.path.join(
                  S.STATE, "root.pem"), "--untrusted", both, ok=False)
        S.check(p.returncode == 0 and b"IS in the ledger" in p.stdout,
                "ledger prove %s: %s" % (name, p.stdout.decode()[-500:]))

    print("a restart with the same key records no certificate")
    srv = S.Server(conf)
    stamp(srv, "restarted")
    S.check(srv.stop() == 0, "server stopped cleanly")
    rc, out = ledger_verify()
    m = re.search(r"certificates (\d+)\)", out)
    S.check(rc == 0 and m is not None and int(m.group(1)) == 2,
            "after a restart, still two certificates: %s" % out)

    print("%d checks, %d failed" % (S.checks, len(S.failures)))
    if S.failures:
        print("server log:")
        print(open(S.path("server.log"), errors="replace").read()[-3000:])
        sys.exit(1)


if __name__ == "__main__":
    main()
