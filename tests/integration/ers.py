#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# Aggregated rounds judged from outside: POST /ers requests made by
# `openssl ts -query`, pipelined on one connection and sent from several,
# each EvidenceRecord checked by tests/tools/ers_verify.py (an RFC 4998 4.3
# verifier that shares no code with the server) in both readings of a
# one-value first list, with the nonce binding; the round token inside
# checked by `openssl ts -verify -digest ROOT`; the ledger checked by
# `carimbo ledger verify` (links, anchors and their signatures) and
# `carimbo ledger prove` for a standard token and an evidence record;
# tampering with the ledger is caught.
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve as S  # noqa: E402  (shared helpers of the server test)

HERE = os.path.dirname(os.path.abspath(__file__))
VERIFY = os.path.join(HERE, "..", "tools", "ers_verify.py")


def tsq_nonce(q):
    """The nonce INTEGER content bytes of a TimeStampReq, as sent."""
    b = open(q, "rb").read()
    i, end = S.tlv(b, 0)
    for _ in range(2):              # version, messageImprint
        _, i = S.tlv(b, i)
    while i < end:
        s, e = S.tlv(b, i)
        if b[i] == 0x02:
            return b[s:e]
        i = e
    return None


def token_of(er):
    """The round token (ContentInfo) inside an EvidenceRecord."""
    oid = bytes.fromhex("06092a864886f70d010702")    # id-signedData
    k = er.find(oid)
    for back in (2, 3, 4):
        if er[k - back] == 0x30:
            s, e = S.tlv(er, k - back)
            if s + len(oid) <= e and er[s:s + len(oid)] == oid:
                return er[k - back:e]
    raise ValueError("no token in the record")


def metrics(port):
    """GET /metrics: {name{labels}: int} for the integer samples."""
    st, h, b = S.exchange(port, S.http_msg(method="GET", target="/metrics",
                                            ctype=None))
    S.check(st == 200, "GET /metrics: %s" % st)
    return {k: int(v) for k, v in re.findall(
        r"^(carimbo_[a-z_]+(?:\{[^}]*\})?) (\d+)$", b.decode(), re.M)}


def big_round(root, chain, led):
    """A round of 1,000 /ers requests on the live server, from `carimbo
    stamp` (50 clients of 20 files, each pipelined on one connection).  A
    round is what one turn of the loop gathers, so the requests queue in
    the sockets while the server is stopped (SIGSTOP) and arrive together
    on SIGCONT: 20 requests (about 3.6 KB) fit in one read of a connection
    (loop.c BR_SIZE), so one turn reads them all; round_max_requests = 1000
    bounds the round exactly.  A busy machine may still split a turn, so
    up to 3 tries."""
    print("a round of 1,000 /ers requests: stamp, verify, prove")
    d = S.path("big")
    os.makedirs(d)
    files, digests = [], {}
    for i in range(1000):
        f = os.path.join(d, "f%04d" % i)
        data = os.urandom(48)
        open(f, "wb").write(data)
        files.append(f)
        digests[f] = hashlib.sha256(data).hexdigest()
    srv = S.Server(S.write_conf("round_max_requests = 1000\n"
                                "round_max_ms = 10000"))
    leaves = []
    for attempt in range(3):
        for f in files:
            if os.path.exists(f + ".ers"):
                os.unlink(f + ".ers")
        os.kill(srv.p.pid, signal.SIGSTOP)
        procs = [subprocess.Popen([S.CARIMBO, "stamp", *files[k::50], "--url",
                                   srv.url, "--ers", "--CAfile", root,
                                   "--untrusted", chain],
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for k in range(50)]
        time.sleep(2)
        os.kill(srv.p.pid, signal.SIGCONT)
        outs = [p.communicate(timeout=300) for p in procs]
        bad = [(p.returncode, o[1][-300:]) for p, o in zip(procs, outs)
               if p.returncode != 0]
        S.check(not bad, "carimbo stamp --ers, 1,000 files, each answer "
                "verified (signature, chain, RFC 4998 path): %r" % bad[:2])
        if bad:
            break
        leaves = []
        for f in files[:8] + files[-8:]:
            p = S.run(S.CARIMBO, "ledger", "prove", led, "--er", f + ".ers",
                      ok=False)
            m = re.search(r"leaves\s+(\d+)", p.stdout.decode())
            leaves.append(int(m.group(1)) if p.returncode == 0 and m else -1)
        if leaves == [1000] * len(leaves):
            break
        print("  try %d: rounds of %s leaves; again" % (attempt + 1,
                                                        sorted(set(leaves))))
    S.check(leaves == [1000] * 16, "ledger prove: the records are in one "
            "round of 1,000 leaves: %s" % sorted(set(leaves)))
    lst = S.path("big.list")
    with open(lst, "w") as g:
        for f in files:
            g.write("%s %s -\n" % (f + ".ers", digests[f]))
    for reading in ("literal", "as-is"):
        p = subprocess.run([sys.executable, VERIFY, "--reading", reading,
                            "--batch", lst], capture_output=True)
        S.check(p.returncode == 0 and b"OK 1000 records" in p.stdout,
                "independent RFC 4998 verifier, %s reading, all 1,000: %s"
                % (reading, p.stdout.decode().strip()[-200:]))
    for f in (files[0], files[500], files[999]):
        p = S.run(S.CARIMBO, "verify", "--data", f, "--ers", f + ".ers",
                  "--CAfile", root, "--untrusted", chain, ok=False)
        S.check(p.returncode == 0, "carimbo verify %s: %s" % (
            os.path.basename(f), p.stdout.decode()[-200:]))
    S.check(srv.stop() == 0, "exit 0")


def cpu_s(pid):
    """A process's user + system CPU time, in seconds (/proc)."""
    with open("/proc/%d/stat" % pid) as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")


def burst(led):
    """A burst far beyond a turn's send budget (tsa/loop.c
    SEND_TURN_BYTES, 1 MiB): 8,192 /ers requests pipelined 256 deep on 16
    connections, about 19 MB of replies.  Every answer checked by `carimbo
    bench` against its request, in order; the budget held sends back
    (carimbo_loop_sends_held_total); GET /health answered meanwhile; and
    once the burst is answered the loop sleeps: a send held back for a
    turn that never comes, or a loop spinning on one, shows as CPU while
    idle.  Rounds stay small here (the loop closes them at its turns'
    ends), so round_max_requests' default is seen in bench/rounds.py, not
    here."""
    print("a burst of 8,192 /ers requests beyond a turn's send budget")
    conf = S.write_conf("max_pipeline = 256\nmax_inflight = 16384")
    srv = S.Server(conf)
    js = S.path("burst.json")
    bench = subprocess.Popen([S.CARIMBO, "bench", "--url", srv.url + "ers",
                              "--connections", "16", "--pipeline", "256",
                              "--requests", "8192", "-c", conf, "--quiet",
                              "--json", js], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    health = []
    while bench.poll() is None and len(health) < 200:
        health.append(S.exchange(srv.port, S.http_msg(
            method="GET", target="/health", ctype=None))[0])
    err = bench.communicate(timeout=300)[1]
    S.check(bench.returncode == 0, "bench: exit %d %r" % (
        bench.returncode, err[-300:]))
    r = {}
    try:
        with open(js) as f:
            r = json.load(f)["result"]
    except (OSError, ValueError, KeyError) as e:
        S.check(False, "bench JSON: %s" % e)
    S.check(r.get("ok") == 8192 and r.get("errors") == 0,
            "8,192 answers, each checked, none wrong: ok %s errors %s" % (
                r.get("ok"), r.get("errors")))
    S.check(health and set(health) == {200},
            "GET /health during the burst: %d answers, %s" % (
                len(health), sorted(set(health))))
    m = metrics(srv.port)
    S.check(m.get("carimbo_loop_sends_held_total", 0) > 0,
            "the turn's send budget held sends back: %s" %
            m.get("carimbo_loop_sends_held_total"))
    t0 = cpu_s(srv.p.pid)
    time.sleep(1.0)
    idle = cpu_s(srv.p.pid) - t0
    S.check(idle < 0.3, "idle after the burst: %.2f s of CPU in 1 s" % idle)
    S.check(srv.stop() == 0, "exit 0")
    p = S.run(S.CARIMBO, "ledger", "verify", led, ok=False)
    S.check(p.returncode == 0, "ledger verify after the burst: %s" %
            (p.stdout + p.stderr).decode()[-300:])


def main():
    S.run(S.CARIMBO, "init", "--demo", S.STATE)
    if not os.path.exists(os.path.join(S.STATE, "clock-seal.key")):
        S.run(S.CARIMBO, "clock", "keygen", S.STATE)
    root = os.path.join(S.STATE, "root.pem")
    chain = os.path.join(S.STATE, "tsa-chain.pem")
    srv = S.Server(S.write_conf("anchor_rounds = 2\nanchor_seconds = 0"))

    print("20 /ers requests pipelined on one connection, SHA-256 and "
          "SHA-512 mixed")
    qs = []
    for i in range(20):
        data, q = S.query("e%d" % i, "-sha512" if i % 4 == 3 else "-sha256")
        qs.append((data, q, "sha512" if i % 4 == 3 else "sha256"))
    s, f = S.connect(srv.port)
    s.sendall(b"".join(S.http_msg(open(q, "rb").read(), target="/ers")
                       for _, q, _ in qs))
    roots = {}
    for i, (data, q, alg) in enumerate(qs):
        st, h, body = S.read_response(f)
        S.check(st == 200 and h.get("content-type") ==
                "application/evidence-record", "reply %d: %s %s" % (
                    i, st, h.get("content-type")))
        er = S.path("e%d.er" % i)
        open(er, "wb").write(body)
        digest = subprocess.run(["openssl", "dgst", "-" + alg, "-r", data],
                                capture_output=True).stdout.split()[0]
        outs = []
        for reading in ("literal", "as-is"):
            p = subprocess.run([sys.executable, VERIFY, "--reading",
                                reading, "--nonce", tsq_nonce(q).hex(),
                                "--digest", digest.decode(), er],
                               capture_output=True)
            outs.append(p.stdout.decode().strip())
            S.check(p.returncode == 0 and outs[-1].startswith("OK root="),
                    "record %d, %s reading: %s" % (i, reading, outs[-1]))
        r = outs[0][len("OK root="):]
        roots.setdefault(alg, set()).add(r)
        tok = S.path("e%d.tok" % i)
        open(tok, "wb").write(token_of(body))
        p = subprocess.run(["openssl", "ts", "-verify", "-token_in", "-in",
                            tok, "-digest", r, "-CAfile", root, "-untrusted",
                            chain], capture_output=True)
        S.check(p.returncode == 0 and b"Verification: OK" in p.stdout,
                "record %d: openssl ts -verify -digest ROOT of its round "
                "token" % i)
    s.close()
    S.check(len(roots.get("sha256", ())) >= 1 and
            len(roots.get("sha512", ())) >= 1,
            "one tree per digest algorithm: %s" % roots)

    print("a record does not verify for other data or another nonce")
    p = subprocess.run([sys.executable, VERIFY, "--digest", "00" * 32,
                        S.path("e0.er")], capture_output=True)
    S.check(p.returncode != 0, "wrong digest refused")
    p = subprocess.run([sys.executable, VERIFY, "--nonce", "0102",
                        "--digest", subprocess.run(
                            ["openssl", "dgst", "-sha256", "-r", qs[0][0]],
                            capture_output=True).stdout.split()[0].decode(),
                        S.path("e0.er")], capture_output=True)
    S.check(p.returncode != 0, "wrong nonce refused (the nonce is bound)")

    print("standard tokens and /ers from several connections")
    for i in range(6):
        data, q = S.query("m%d" % i, "-sha256", "-cert")
        out = S.post_curl(srv.url + ("ers" if i % 2 else ""), q,
                          S.path("m%d.out" % i))
        S.check(out.startswith("200"), "mixed %d: %s" % (i, out))
    S.check(S.verify(S.path("m0.out"), S.path("m0.tsq")), "standard token")
    met = metrics(srv.port)
    S.check(srv.stop() == 0, "exit 0")

    print("the ledger")
    led = os.path.join(S.STATE, "ledger", "carimbo.ledger")
    p = S.run(S.CARIMBO, "ledger", "verify", led, "--ca", root,
              "--untrusted", chain, ok=False)
    out = p.stdout.decode()
    S.check(p.returncode == 0 and out.rstrip().endswith("OK"),
            "ledger verify: %s" % out)
    # The option spellings (getopt_long): --CAfile is --ca, options may
    # come first; an unknown option or no ledger is a usage error; more
    # operands are more units' ledgers (units.py), one that is not there
    # a failure.
    p = S.run(S.CARIMBO, "ledger", "--CAfile", root, "--untrusted", chain,
              "verify", led, ok=False)
    S.check(p.returncode == 0 and p.stdout.decode().rstrip().endswith("OK"),
            "ledger --CAfile ... verify LEDGER: %s" % p.stdout.decode())
    p = S.run(S.CARIMBO, "ledger", "verify", led, S.path("extra"), ok=False)
    S.check(p.returncode == 1 and b"cannot open" in p.stderr + p.stdout,
            "ledger verify LEDGER missing: exit %d %r" % (
                p.returncode, (p.stdout + p.stderr)[-200:]))
    for bad in (["verify", led, "--bogus", "x"],
                ["verify"], ["verify", led, "--ca"]):
        p = S.run(S.CARIMBO, "ledger", *bad, ok=False)
        S.check(p.returncode == 2 and
                b"usage: carimbo ledger verify" in p.stderr,
                "ledger %s: usage (exit %d)" % (" ".join(bad[2:]) or
                                                 " ".join(bad), p.returncode))
    m = re.search(r"covered\s+(\d+) /ers requests, (\d+) standard", out)
    S.check(m is not None and int(m.group(1)) == 23 and
            int(m.group(2)) == 3, "ledger covers 23 /ers and 3 standard: %r"
            % (m and (m.groups(),)))
    m = re.search(r"anchors (\d+)", out)
    S.check(m is not None and int(m.group(1)) >= 1, "anchors recorded")
    # One C_Sign per round token, anchor and standard token, no more: the
    # server's count of signatures against the ledger's records.
    sig = {k: int(met.get('carimbo_signatures_total{kind="%s"}' % k, -1))
           for k in ("token", "round", "anchor", "stamp")}
    # /ers records (one per tree) = records - token records - anchors
    # - certificates (one: the server started once, with one key).
    rec = re.search(r"records\s+(\d+) \(/ers rounds \d+, token records "
                    r"(\d+), anchors (\d+), certificates (\d+)\)", out)
    S.check(rec is not None and int(rec.group(4)) == 1,
            "one certificate record: %r" % (rec and rec.groups(),))
    trees = rec and (int(rec.group(1)) - int(rec.group(2)) -
                     int(rec.group(3)) - int(rec.group(4)))
    S.check(rec is not None and sig["round"] == trees ==
            met.get("carimbo_round_tokens_total") and
            sig["anchor"] == int(m.group(1)) ==
            met.get("carimbo_anchors_total") and sig["token"] == 3 and
            sig["stamp"] == 0, "signatures %s = the ledger's /ers records "
            "%s and anchors %s, and the 3 standard tokens (metrics %s)" % (
                sig, trees, m.group(1), met))
    S.check(met.get("carimbo_rounds_total", 0) >= 2 and
            sig["round"] >= 2, "at least two rounds, two trees (SHA-256 "
            "and SHA-512): %s" % met)
    for args, what in [(["--token", S.path("m0.out")], "standard token"),
                       (["--er", S.path("e0.er")], "evidence record")]:
        p = S.run(S.CARIMBO, "ledger", "prove", led, *args, "--ca", root,
                  "--untrusted", chain, ok=False)
        S.check(p.returncode == 0, "ledger prove %s: %s" % (
            what, p.stdout.decode()[-300:]))
    raw = bytearray(open(led, "rb").read())
    raw[len(raw) // 2] ^= 0x40
    bad = S.path("bad.ledger")
    open(bad, "wb").write(raw)
    p = S.run(S.CARIMBO, "ledger", "verify", bad, ok=False)
    S.check(p.returncode != 0 and b"record" in p.stdout + p.stderr,
            "tampered ledger refused, first bad record named")

    big_round(root, chain, led)
    burst(led)

    print("the clock's seals carry the TSA's own tokens, in the ledger")
    before = re.search(r"covered\s+\d+ /ers requests, (\d+) standard",
                       S.run(S.CARIMBO, "ledger", "verify", led).stdout
                       .decode())

    def seal_tokens():
        """The audit of every clock log so far, and its seals' tokens."""
        logs = sorted(os.path.join(S.STATE, "clock", f) for f in
                      os.listdir(os.path.join(S.STATE, "clock"))
                      if re.match(r"clock-\d+\.log$", f))
        if not logs:
            return None, "", 0
        p = S.run(S.CARIMBO, "clock", "audit", *logs, "--pubkey",
                  os.path.join(S.STATE, "clock-seal.pub"), "--ca", root,
                  ok=False)
        out = p.stdout.decode()
        m = re.search(r"(\d+) with an RFC 3161 token \((\d+) verified",
                      out)
        return p, out, int(m.group(1)) if m else 0

    # Seals of the earlier runs (a slow run lives past a seal interval)
    # are in the ledger already: only this run's count against it.
    _, _, sealed_before = seal_tokens()
    srv = S.Server(S.write_conf("clock_poll_ms = 300\n"
                                "clock_seal_interval_ms = 300"))
    time.sleep(2.5)
    S.check(srv.stop() == 0, "exit 0")
    p, out, _ = seal_tokens()
    m = re.search(r"(\d+) with an RFC 3161 token \((\d+) verified", out)
    S.check(p.returncode == 0 and m is not None and int(m.group(1)) >= 2 and
            m.group(1) == m.group(2), "seals with verified TSA tokens: %r"
            % out)
    p = S.run(S.CARIMBO, "ledger", "verify", led, "--ca", root,
              "--untrusted", chain, ok=False)
    after = re.search(r"covered\s+\d+ /ers requests, (\d+) standard",
                      p.stdout.decode())
    S.check(p.returncode == 0 and before and after and m and
            int(after.group(1)) - int(before.group(1)) >=
            int(m.group(1)) - sealed_before,
            "the seal tokens are in the ledger: %s -> %s" % (
                before and before.group(1), after and after.group(1)))

    print("%d checks, %d failed" % (S.checks, len(S.failures)))
    if S.failures:
        print("server log:\n" + open(S.path("server.log")).read()[-3000:])
        sys.exit(1)
    subprocess.run(["rm", "-rf", S.TMP])


if __name__ == "__main__":
    main()
