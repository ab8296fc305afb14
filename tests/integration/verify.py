#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# `carimbo stamp` and `carimbo verify` judged end to end: a demo server on
# loopback, files stamped pipelined on one connection on / and on /ers,
# every answer verified by `carimbo verify` (and the .tsr files by
# `openssl ts -verify`), then tampering: a flipped bit in the data, in a
# path hash of an evidence record (RFC 4998 4.3), in the token inside a
# record and inside a .tsr, a record checked against another file, a wrong
# nonce and a foreign CA.  Each must fail, naming its step.
import hashlib
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve as S  # noqa: E402  (shared helpers of the server test)

N = 5


def verify(*args):
    """carimbo verify: (exit code, stdout + stderr as text)."""
    p = S.run(S.CARIMBO, "verify", *args, ok=False)
    return p.returncode, (p.stdout + p.stderr).decode(errors="replace")


def lists(er):
    """The PartialHashtrees of an EvidenceRecord: [[(start, end), ...]]."""
    s, _ = S.tlv(er, 0)                 # EvidenceRecord
    _, i = S.tlv(er, s)                 # past version
    _, i = S.tlv(er, i)                 # past digestAlgorithms
    s, _ = S.tlv(er, i)                 # ArchiveTimeStampSequence
    s, _ = S.tlv(er, s)                 # ArchiveTimeStampChain
    i, end = S.tlv(er, s)               # ArchiveTimeStamp
    while i < end and er[i] != 0xa2:    # to reducedHashtree [2]
        _, i = S.tlv(er, i)
    out = []
    if i >= end:
        return out
    i, tend = S.tlv(er, i)
    while i < tend:
        j, pend = S.tlv(er, i)
        vals = []
        while j < pend:
            vs, ve = S.tlv(er, j)
            vals.append((vs, ve))
            j = ve
        out.append(vals)
        i = pend
    return out


def flipped(src, name, at):
    b = bytearray(open(src, "rb").read())
    b[at] ^= 0x01
    dst = S.path(name)
    open(dst, "wb").write(b)
    return dst


def main():
    S.run(S.CARIMBO, "init", "--demo", S.STATE)
    root = os.path.join(S.STATE, "root.pem")
    chain = os.path.join(S.STATE, "tsa-chain.pem")
    pki = ["--CAfile", root, "--untrusted", chain]
    srv = S.Server(S.write_conf(""))
    out = S.path("out")
    os.mkdir(out)

    files = []
    for i in range(2 * N):
        f = S.path("doc%d.dat" % i)
        open(f, "wb").write(os.urandom(200 + i))
        files.append(f)
    std, ers = files[:N], files[N:]

    print("carimbo stamp: %d files on /, %d on /ers, pipelined" % (N, N))
    p = S.run(S.CARIMBO, "stamp", *std, "--url", srv.url, *pki, ok=False)
    text = p.stdout.decode()
    S.check(p.returncode == 0 and text.count(": OK ") == N,
            "stamp on /: %d %s %s" % (p.returncode, text, p.stderr))
    p = S.run(S.CARIMBO, "stamp", *ers, "--url", srv.url, "--ers",
              "--out", out, *pki, ok=False)
    text = p.stdout.decode()
    S.check(p.returncode == 0 and text.count(": OK ") == N,
            "stamp on /ers: %d %s %s" % (p.returncode, text, p.stderr))
    p = S.run(S.CARIMBO, "stamp", S.path("doc0.dat"), "--url",
              srv.url.rstrip("/"), "--ers", "--sha512", "--out", out,
              ok=False)
    S.check(p.returncode == 0, "stamp --ers --sha512 without --CAfile: %s"
            % p.stderr)

    print("carimbo verify: every answer")
    for f in std:
        rc, t = verify("--data", f, "--tsr", f + ".tsr", *pki)
        S.check(rc == 0 and t.startswith("OK token") and "genTime" in t and
                "serial" in t and "policy" in t, "verify %s.tsr: %s" % (
                    os.path.basename(f), t))
        p = S.run("openssl", "ts", "-verify", "-in", f + ".tsr", "-data", f,
                  "-CAfile", root, "-untrusted", chain, ok=False)
        S.check(p.returncode == 0 and b"Verification: OK" in p.stdout,
                "openssl ts -verify %s.tsr" % os.path.basename(f))
    maxlists = 0
    for f in ers:
        e = os.path.join(out, os.path.basename(f) + ".ers")
        rc, t = verify("--data", f, "--ers", e, *pki)
        S.check(rc == 0 and t.startswith("OK evidence-record") and
                "root" in t and "path" in t, "verify %s: %s" % (e, t))
        maxlists = max(maxlists, len(lists(open(e, "rb").read())))
    S.check(maxlists >= 2, "a round of several leaves: %d lists" % maxlists)
    e512 = os.path.join(out, "doc0.dat.ers")
    rc, t = verify("--data", S.path("doc0.dat"), "--ers", e512, *pki)
    S.check(rc == 0 and "sha512:" in t, "SHA-512 record: %s" % t)
    dg = hashlib.sha256(open(std[0], "rb").read()).hexdigest()
    rc, t = verify("--digest", dg, "--tsr", std[0] + ".tsr", *pki)
    S.check(rc == 0, "verify --digest: %s" % t)

    print("tampering: each refused, naming its step")
    e0 = os.path.join(out, os.path.basename(ers[0]) + ".ers")
    bad = flipped(ers[0], "doc-bad.dat", 17)
    cases = [
        ("flipped data bit, .ers", ["--data", bad, "--ers", e0],
         "path: hash not in the first list"),
        ("flipped data bit, .tsr", ["--data", flipped(std[0], "std-bad.dat",
                                                      3),
                                    "--tsr", std[0] + ".tsr"],
         "token: imprint is not the data's hash"),
        ("another file's record", ["--data", ers[1], "--ers", e0],
         "path: hash not in the first list"),
        ("token signature inside the .ers",
         ["--data", ers[0], "--ers", flipped(e0, "tok.ers",
                                             os.path.getsize(e0) - 1)],
         "token: signature does not verify"),
        ("token signature inside the .tsr",
         ["--data", std[0], "--tsr", flipped(std[0] + ".tsr", "tok.tsr",
                                             os.path.getsize(std[0] +
                                                             ".tsr") - 1)],
         "token: signature does not verify"),
        ("a wrong nonce", ["--data", ers[0], "--ers", e0, "--nonce", "0102"],
         "path: "),
    ]
    # A path hash: one in list 1 or later of a record that has one.
    for f in ers:
        e = os.path.join(out, os.path.basename(f) + ".ers")
        ls = lists(open(e, "rb").read())
        if len(ls) >= 2:
            cases.append(("a path hash (list 1)",
                          ["--data", f, "--ers",
                           flipped(e, "path.ers", ls[1][0][0] + 5)],
                          "token: imprint is not the tree root"))
            raw = open(e, "rb").read()
            h = hashlib.sha256(open(f, "rb").read()).digest()
            b = [v for v in ls[0] if raw[v[0]:v[1]] != h]
            S.check(len(b) == 1, "list 0 holds h and b")
            cases.append(("the blinding value b in list 0",
                          ["--data", f, "--ers",
                           flipped(e, "path0.ers", b[0][0])],
                          "token: imprint is not the tree root"))
            break
    for what, args, want in cases:
        rc, t = verify(*args, *pki)
        S.check(rc == 1 and want in t and "FAILED" in t,
                "%s: exit %d, want %r: %s" % (what, rc, want, t.strip()))

    # A CA that did not issue the TSA certificate.
    other = S.path("other.pem")
    S.run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
          "ec_paramgen_curve:P-256", "-nodes", "-keyout",
          S.path("other.key"), "-subj", "/CN=someone else", "-days", "2",
          "-out", other)
    rc, t = verify("--data", ers[0], "--ers", e0, "--CAfile", other)
    S.check(rc == 1 and "chain: unable to get" in t,
            "foreign CA, .ers: %s" % t.strip())
    rc, t = verify("--data", std[0], "--tsr", std[0] + ".tsr",
                   "--CAfile", other)
    S.check(rc == 1 and "chain: unable to get" in t,
            "foreign CA, .tsr: %s" % t.strip())
    p = S.run(S.CARIMBO, "stamp", std[1], "--url", srv.url, "--out", out,
              "--CAfile", other, ok=False)
    S.check(p.returncode == 1 and b"chain: " in p.stderr,
            "stamp with a foreign CA fails: %s" % p.stderr)
    rc, t = verify("--data", std[0], "--tsr", e0, *pki)
    S.check(rc == 1 and "tsr: " in t, "a record given as --tsr: %s" % t)
    rc, t = verify("--data", std[0], "--ers", std[0] + ".tsr", *pki)
    S.check(rc == 1 and "ers: " in t, "a .tsr given as --ers: %s" % t)
    rc, t = verify("--data", std[0], "--tsr", std[0] + ".tsr")
    S.check(rc == 2, "no --CAfile: usage (exit %d)" % rc)
    # The option spellings (getopt_long): --ca is --CAfile; anything else,
    # a missing value or a stray operand is a usage error.
    rc, t = verify("--tsr", std[0] + ".tsr", "--ca", root, "--data", std[0],
                   "--untrusted", chain)
    S.check(rc == 0, "--ca for --CAfile, options in any order: %s" % t)
    for bad in (["--bogus", "x"], ["extra"], ["--nonce"]):
        rc, t = verify("--data", std[0], "--tsr", std[0] + ".tsr", *pki,
                       *bad)
        S.check(rc == 2 and "usage: carimbo verify" in t,
                "%s: usage (exit %d)" % (" ".join(bad), rc))

    data, q = S.query("rej", "-sha1")
    S.post_curl(srv.url, q, S.path("rej.tsr"))
    rc, t = verify("--data", data, "--tsr", S.path("rej.tsr"), *pki)
    S.check(rc == 1 and "tsr: status 2 (rejection)" in t and "badAlg" in t,
            "a rejection (SHA-1 asked): %s" % t.strip())

    print("a dead server")
    S.check(srv.stop() == 0, "exit 0")
    p = S.run(S.CARIMBO, "stamp", std[1], "--url", srv.url, "--out", out,
              ok=False)
    S.check(p.returncode == 1 and b"FAILED http: " in p.stderr,
            "no server: exit 1, the http step named: %s" % p.stderr)

    print("%d checks, %d failed" % (S.checks, len(S.failures)))
    if S.failures:
        print("server log:\n" + open(S.path("server.log")).read()[-3000:])
        sys.exit(1)
    subprocess.run(["rm", "-rf", S.TMP])


if __name__ == "__main__":
    main()
