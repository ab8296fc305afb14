#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# One audit across several units (doc/ledger.md "Several units"): two
# units, each with its own key, certificate (from one TSA CA), unit id,
# serial file and ledger, each loaded with `carimbo bench --save` on `/`
# and `/ers`; then:
#
# - `ledger verify L1 L2 --ca ROOT` checks both chains and says the
#   serials are unique across them; two ledgers of one unit are refused;
# - `ledger prove L1 L2 --batch --token FILE` proves every token of both
#   units, each in the ledger of the unit its serial names, and the same
#   for /ers evidence records; `ledger prove L1 L2 --token` names the
#   ledger it found the token in; a token of a unit with no ledger given
#   is not in the ledgers;
# - witnessing (doc/ledger.md "Witnessing"): both units run side by side,
#   each anchoring its head every second and fetching the other's
#   GET /ledger/head every second; the audit across both finds every
#   witnessed head in the witnessed ledger.  Then unit 2's ledger is cut
#   back and unit 2 runs on, so that its own chain and anchors are
#   consistent again: `ledger verify L2` alone passes, the audit across
#   both fails and names unit 2, its record, and the record of unit 1
#   that witnessed it;
# - a second unit asking the CA for unit 1's id is refused, naming the
#   certificate that holds it; unit 2's id is issued;
# - a unit started with another unit_id than its certificate names, or
#   than its ledger's, is refused.
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve as S  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
from net import free_port  # noqa: E402  (tests/integration/lib)


def set_conf(conf, **kv):
    text = open(conf).read()
    for k, v in kv.items():
        text, n = re.subn(r"(?m)^%s\s*=.*$" % k, "%s = %s" % (k, v), text)
        if n == 0:
            text += "\n%s = %s\n" % (k, v)
    with open(conf, "w") as f:
        f.write(text)


def pem_certs(p):
    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE"
                      r"-----\n?", open(p).read(), re.S)


def second_unit(s1, s2):
    """A copy of unit 1's state as unit 2: its own token copy, a new key
    and certificate from the same TSA CA, no ledger and no serials."""
    shutil.copytree(s1, s2)
    for d in ("ledger",):
        shutil.rmtree(os.path.join(s2, d), ignore_errors=True)
    for f in ("serials", "serials.tmp"):
        if os.path.exists(os.path.join(s2, f)):
            os.unlink(os.path.join(s2, f))
    hsm = os.path.join(s2, "softhsm2.conf")
    with open(hsm) as f:
        text = f.read().replace(s1, s2)
    with open(hsm, "w") as f:
        f.write(text)
    conf = os.path.join(s2, "carimbo.conf")
    cert = os.path.join(s2, "tsa-u2.pem")
    # Unit 1's id is held (init's certificate): refused, naming it.
    p = S.run(S.CARIMBO, "ca", "issue", "-c", conf, "--profile", "tsa",
              "--unit-id", "1", "--keygen-on-token", "--key-label",
              "tsa-u2", "--subject", "/C=PT/O=carimbo demo/CN=carimbo demo "
              "TSU 2", "--out", cert, ok=False)
    S.check(p.returncode == 1 and re.search(
        r"unit id 1 is held by TSA certificate [0-9A-F]+ \(/C=PT/O=carimbo "
        r"demo/CN=carimbo demo TSU 1/serialNumber=1, valid until \S+Z",
        p.stderr.decode()) is not None and not os.path.exists(cert),
        "a second unit on unit 1's id: %s" % p.stderr.decode()[-400:])
    S.run(S.CARIMBO, "ca", "issue", "-c", conf, "--profile", "tsa",
          "--unit-id", "2", "--keygen-on-token", "--key-label", "tsa-u2",
          "--subject", "/C=PT/O=carimbo demo/CN=carimbo demo TSU 2",
          "--out", cert)
    chain = os.path.join(s2, "tsa-chain.pem")
    certs = pem_certs(cert) + pem_certs(chain)[1:]
    with open(chain, "w") as f:
        f.write("".join(certs))
    set_conf(conf, unit_id=2, key_label="tsa-u2")
    return conf


def load(conf, name):
    srv = S.Server(conf)
    saved = {}
    for target in ("", "ers"):
        out = S.path("%s-%s" % (name, target or "std"))
        p = S.run(S.CARIMBO, "bench", "--url", srv.url + target,
                  "--connections", "4", "--duration", "2", "-c", conf,
                  "--quiet", "--save", out, ok=False)
        S.check(p.returncode == 0, "bench %s %s: %s" % (
            name, target, p.stderr.decode()[-300:]))
        saved[target or "std"] = out
    data, q = S.query(name + "-one", "-sha256", "-cert")
    r = S.path(name + "-one.tsr")
    S.check(S.post_curl(srv.url, q, r).startswith("200"), name + ": one")
    S.check(srv.stop() == 0, name + ": stopped cleanly")
    return saved, r


def start(conf, port, log):
    p = subprocess.Popen([S.CARIMBO, "serve", "-c", conf, "--listen",
                          "127.0.0.1:%d" % port], stdout=subprocess.PIPE,
                         stderr=open(log, "ab"))
    line = p.stdout.readline().decode()
    if "listening on" not in line:
        raise SystemExit("unit did not start: %r %s" % (
            line, open(log).read()[-1500:]))
    return p


def stop(p):
    p.send_signal(signal.SIGTERM)
    return p.wait(timeout=30)


def records_of(led):
    p = S.run(S.CARIMBO, "ledger", "verify", led)
    return int(re.search(r"records\s+(\d+)", p.stdout.decode()).group(1))


def cut_ledger(led, keep):
    """Zeros every record from number keep on (doc/ledger.md layout)."""
    path = os.path.join(led, "carimbo.ledger")
    buf = bytearray(open(path, "rb").read())
    off = 0
    while buf[off:off + 4] == b"CRBL":
        seq = int.from_bytes(buf[off + 12:off + 20], "big")
        if seq == keep:
            break
        off += int.from_bytes(buf[off + 8:off + 12], "big")
    buf[off:] = bytes(len(buf) - off)
    with open(path, "wb") as f:
        f.write(buf)


def witnessing(conf1, conf2, l1, l2, root):
    print("witnessing: two units side by side, each recording the "
          "other's head")
    p1, p2 = free_port(), free_port()
    set_conf(conf1, anchor_seconds=1, witness="http://127.0.0.1:%d" % p2,
             witness_seconds=1)
    set_conf(conf2, anchor_seconds=1, witness="http://127.0.0.1:%d" % p1,
             witness_seconds=1)
    before2 = records_of(l2)
    s1 = start(conf1, p1, S.path("unit1.log"))
    s2 = start(conf2, p2, S.path("unit2.log"))
    benches = [subprocess.Popen([S.CARIMBO, "bench", "--url",
                                 "http://127.0.0.1:%d/" % port,
                                 "--connections", "2", "--duration", "5",
                                 "-c", conf, "--quiet"],
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
               for port, conf in ((p1, conf1), (p2, conf2))]
    for b in benches:
        b.wait(60)
    time.sleep(2.5)     # a last anchor and fetch each
    head = subprocess.run(["curl", "-sS", "-o", S.path("head.der"), "-w",
                           "%{http_code} %{content_type}",
                           "http://127.0.0.1:%d/ledger/head" % p2],
                          capture_output=True).stdout.decode()
    S.check(head == "200 application/vnd.carimbo.ledger-head",
            "GET /ledger/head: %s" % head)
    asn = S.run("openssl", "asn1parse", "-inform", "DER", "-in",
                S.path("head.der")).stdout.decode()
    S.check(re.search(r"INTEGER\s+:02\n", asn) is not None and
            "pkcs7-signedData" in asn,
            "the head is unit 2's, with its anchor token: %s" % asn[:600])
    S.check(stop(s1) == 0 and stop(s2) == 0, "both units stopped cleanly")
    p = S.run(S.CARIMBO, "ledger", "verify", l1, l2, "--ca", root,
              ok=False)
    out = p.stdout.decode()
    m = re.search(r"witnessed heads: (\d+) agree with the witnessed units' "
                  r"ledgers, 0 do not", out)
    S.check(p.returncode == 0 and m is not None and int(m.group(1)) >= 4,
            "the audit finds every witnessed head: %s" % out[-600:])
    S.check(re.search(r"witnessed\s+\d+ heads of other units", out)
            is not None, "each summary counts its witnessed heads")

    print("unit 2 rewrites its ledger's tail: its own verify passes, the "
          "audit across units names it")
    cut_ledger(l2, before2)
    set_conf(conf2, witness="")
    text = open(conf2).read().replace("witness = \n", "")
    with open(conf2, "w") as f:
        f.write(text)
    s2 = start(conf2, p2, S.path("unit2.log"))
    S.run(S.CARIMBO, "bench", "--url", "http://127.0.0.1:%d/" % p2,
          "--connections", "2", "--duration", "6", "-c", conf2, "--quiet",
          ok=False)
    time.sleep(1.5)
    S.check(stop(s2) == 0, "unit 2 stopped cleanly")
    p = S.run(S.CARIMBO, "ledger", "verify", l2, "--ca", root, ok=False)
    S.check(p.returncode == 0, "unit 2's rewritten ledger verifies alone: "
            "%s" % (p.stdout + p.stderr).decode()[-400:])
    p = S.run(S.CARIMBO, "ledger", "verify", l1, l2, "--ca", root,
              ok=False)
    out = p.stdout.decode()
    m = re.search(r"FAILED: unit 2 record (\d+) contradicts the head unit 1 "
                  r"witnessed \(its record (\d+), \S+\): unit 2's ledger "
                  r"was (rewritten|cut short) after unit 1 saw it", out)
    S.check(p.returncode == 1 and m is not None and
            int(m.group(1)) >= before2,
            "the audit names unit 2, its record and the witness: %s" %
            out[-900:])


def cat(paths, out):
    with open(out, "wb") as f:
        for p in paths:
            f.write(open(p, "rb").read())
    return out


def main():
    s1 = S.STATE
    S.run(S.CARIMBO, "init", "--demo", s1)
    s2 = os.path.join(S.TMP, "unit2")
    conf1 = os.path.join(s1, "carimbo.conf")
    conf2 = second_unit(s1, s2)
    l1, l2 = os.path.join(s1, "ledger"), os.path.join(s2, "ledger")
    root = os.path.join(s1, "root.pem")
    untrusted = cat([os.path.join(s1, "tsa-chain.pem"),
                     os.path.join(s2, "tsa-chain.pem")],
                    S.path("chains.pem"))
    print("two units under load, each with --save")
    saved1, one1 = load(conf1, "u1")
    saved2, one2 = load(conf2, "u2")

    print("ledger verify across units")
    p = S.run(S.CARIMBO, "ledger", "verify", l1, l2, "--ca", root, ok=False)
    out = p.stdout.decode()
    S.check(p.returncode == 0 and "2 ledgers of 2 units: every chain "
            "sound, serials unique across them" in out and
            re.search(r"unit\s+1\n", out) and re.search(r"unit\s+2\n", out),
            "verify L1 L2: %s %s" % (out[-800:], p.stderr.decode()[-800:]))
    dup = os.path.join(S.TMP, "dup-ledger")
    shutil.copytree(l1, dup)
    p = S.run(S.CARIMBO, "ledger", "verify", l1, dup, ok=False)
    S.check(p.returncode == 1 and b"are both unit 1's ledgers" in p.stdout,
            "two ledgers of one unit refused: %s" % p.stdout.decode())

    print("ledger prove across units")
    for kind, key in (("--token", "std"), ("--er", "ers")):
        both = cat([saved1[key], saved2[key]], S.path("both-" + key))
        p = S.run(S.CARIMBO, "ledger", "prove", l1, l2, "--batch", kind,
                  both, "--ca", root, "--untrusted", untrusted, ok=False)
        out = p.stdout.decode()
        m = re.search(r"(\d+) of (\d+) \S+( \S+)? in the ledger, 0 not, "
                      r"0 unusable", out)
        S.check(p.returncode == 0 and m is not None and
                m.group(1) == m.group(2) and int(m.group(1)) > 10,
                "prove --batch %s over both units: %s" % (kind, out[-500:]))
        # One unit's ledger alone does not hold the other's.
        p = S.run(S.CARIMBO, "ledger", "prove", l1, "--batch", kind, both,
                  "--ca", root, "--untrusted", untrusted, ok=False)
        S.check(p.returncode == 1 and b"NOT in the ledger" in p.stdout,
                "prove --batch %s over unit 1 alone: %s" % (
                    kind, p.stdout.decode()[-300:]))
    for r, unit, led in ((one1, 1, l1), (one2, 2, l2)):
        p = S.run(S.CARIMBO, "ledger", "prove", l1, l2, "--token", r,
                  "--ca", root, "--untrusted", untrusted, ok=False)
        out = p.stdout.decode()
        S.check(p.returncode == 0 and ("unit %d: ledger %s" % (unit, led))
                in out and "token IS in the ledger" in out,
                "prove --token of unit %d: %s" % (unit, out[-400:]))

    witnessing(conf1, conf2, l1, l2, root)

    print("a unit serves under the id its certificate names")
    set_conf(conf1, unit_id=2)
    p = subprocess.run([S.CARIMBO, "serve", "-c", conf1, "--listen",
                        "127.0.0.1:0"], capture_output=True, timeout=60)
    S.check(p.returncode != 0 and b"the TSA certificate is unit 1's, the "
            b"config says unit_id 2" in p.stderr, "unit_id 2 on unit 1's "
            "certificate: %d %s" % (p.returncode, p.stderr.decode()[-300:]))

    print("a unit keeps its id for the life of its ledger")
    # A certificate of unit 5 on unit 1's state: the ledger still refuses.
    cert5 = os.path.join(s1, "tsa-u5.pem")
    S.run(S.CARIMBO, "ca", "issue", "-c", conf1, "--profile", "tsa",
          "--unit-id", "5", "--keygen-on-token", "--key-label", "tsa-u5",
          "--subject", "/C=PT/O=carimbo demo/CN=carimbo demo TSU 5",
          "--out", cert5)
    chain5 = os.path.join(s1, "tsa-u5-chain.pem")
    with open(chain5, "w") as f:
        f.write("".join(pem_certs(cert5) + pem_certs(os.path.join(
            s1, "tsa-chain.pem"))[1:]))
    set_conf(conf1, unit_id=5, key_label="tsa-u5",
             tsa_chain="tsa-u5-chain.pem")
    p = subprocess.run([S.CARIMBO, "serve", "-c", conf1, "--listen",
                        "127.0.0.1:0"], capture_output=True, timeout=60)
    S.check(p.returncode != 0 and b"the ledger is unit 1's, the config "
            b"says unit_id 5" in p.stderr, "unit_id changed: %d %s" % (
                p.returncode, p.stderr.decode()[-300:]))

    print("%d checks, %d failed" % (S.checks, len(S.failures)))
    if S.failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
