#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# One unit's clock gate closes behind HAProxy (doc/scale-out.md "What a
# client sees"): the two units of lib/edge.py, unit 1's clock judged
# strictly against a real chronyd and the lying NTP server of clock.py
# (as clock_serve.py does), unit 2 on the demo clock.  While two
# keep-alive clients post time-stamp requests through HAProxy:
#
#   - the liar claims +2 s: unit 1's gate closes (its log says when),
#     HAProxy marks it DOWN within its checks' interval times fall (stats
#     page), and the clients go on being served by unit 2;
#   - the liar is honest again: the gate reopens and unit 1 comes back UP
#     by itself, and answers again;
#   - every reply the clients got is a token or a rejection with failInfo
#     timeNotAvailable (unit 1, between its gate closing and HAProxy
#     taking it out) or HAProxy's 503: nothing else, and no connection
#     error; every token is proven in the ledger of the unit its serial
#     names (`carimbo ledger prove L1 L2 --batch`, which verifies each
#     one's signature and chain); no token of unit 1 has a genTime
#     between its gate closing and reopening.
#
# Exit 77 only when chronyd cannot run here (clock.py says why).  Bounded:
# about 20 s.
import calendar
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "lib"))
import clock as ck  # noqa: E402  (the Liar and chronyd)
import edge  # noqa: E402  (the units and HAProxy)

CARIMBO = edge.CARIMBO
TIME_NOT_AVAILABLE = 14         # PKIFailureInfo bit, RFC 3161 2.4.2
CLIENTS = 2
PAUSE = 0.02                    # between a client's requests
DOWN_WITHIN = 3.5               # inter 1s * fall 2, and a check's phase
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("  FAIL:", what, flush=True)


class Client(threading.Thread):
    """Posts requests through HAProxy on one keep-alive connection (a new
    one after a close) and keeps every (sent, status, body) or error."""

    def __init__(self, port, tsq, digest_at):
        super().__init__(daemon=True)
        self.port, self.tsq, self.at = port, tsq, digest_at
        self.replies, self.errors, self.stop = [], [], False

    def run(self):
        c = None
        while not self.stop:
            body = bytearray(self.tsq)
            body[self.at:self.at + 32] = os.urandom(32)
            t = time.time()
            try:
                if c is None:
                    c = http.client.HTTPConnection("127.0.0.1", self.port,
                                                   timeout=20)
                c.request("POST", "/", bytes(body), {
                    "Content-Type": "application/timestamp-query"})
                r = c.getresponse()
                self.replies.append((t, r.status, r.read()))
                if r.getheader("Connection", "").lower() == "close":
                    c.close()
                    c = None
            except (OSError, http.client.HTTPException) as e:
                self.errors.append((t, repr(e)))
                if c is not None:
                    c.close()
                c = None
            time.sleep(PAUSE)
        if c is not None:
            c.close()


def log_times(path, since, what):
    """POSIX times of unit log lines matching what, at or after since."""
    out = []
    for line in open(path, errors="replace"):
        m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z ", line)
        if m is None or what not in line:
            continue
        t = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
        t += int(m.group(2)) / 1000
        if t >= since:
            out.append(t)
    return out


def turn(E, liar, mode, want, line, since):
    """
    The liar to mode, then until HAProxy says unit 1 is want: (when the
    liar turned, seconds until want or None, the time of unit 1's first
    log line with line since since, or when the liar turned).
    """
    t = time.time()
    liar.mode = mode
    secs = E.wait_status("unit1", want, 20)
    check(secs is not None, "unit 1 not %s with the liar at %s: %s" % (
        want, mode, E.stats()))
    seen = log_times(E.unit_log(1), since or t - 1, line)
    check(len(seen) > 0, "unit 1's log has no %r" % line)
    return t, secs, seen[0] if seen else t


def main():
    tmp = tempfile.mkdtemp(prefix="carimbo-haproxy-clock-")
    os.chmod(tmp, 0o700)
    chronyd, cmdport = ck.start_chronyd(tmp)[0::2]   # or exit 77
    liar, E = ck.Liar(), None
    clients = []
    try:
        E = edge.Edge(tmp, check)
        with open(E.c1, "a") as f:
            f.write("clock_kernel = ignore\n"
                    "clock_chrony = 127.0.0.1:%d\n"
                    "clock_min_sources = 2\nclock_poll_ms = 150\n"
                    "clock_hold_ms = 400\nclock_ntp_timeout_ms = 300\n"
                    "clock_seal_interval_ms = 500\n" % cmdport)
        E.start_unit(1, "--clock-mode", "strict", "--ntp-server",
                     "127.0.0.1:%d" % liar.port)
        E.start_unit(2)
        E.start_haproxy()
        for n in ("unit1", "unit2"):
            check(E.wait_status(n, "UP", 15) is not None,
                  "%s not UP: %s" % (n, E.stats()))

        tsq = os.path.join(tmp, "q.tsq")
        edge.run("openssl", "ts", "-query", "-digest", "ab" * 32, "-sha256",
                 "-cert", "-no_nonce", "-out", tsq)
        tsq = open(tsq, "rb").read()
        clients = [Client(E.ph, tsq, tsq.index(bytes([0xab] * 32)))
                   for _ in range(CLIENTS)]
        for c in clients:
            c.start()
        time.sleep(1.5)

        print("the liar claims +2 s: unit 1's gate closes")
        jump, down, closed_at = turn(E, liar, "+2", "DOWN",
                                     "clock gate CLOSED", None)
        out_after = jump + (down or 0) - closed_at
        check(down is not None and out_after < DOWN_WITHIN,
              "HAProxy took unit 1 out %.1f s after its gate closed (want "
              "< %.1f s)" % (out_after, DOWN_WITHIN))
        check(E.stats().get("unit2", "").startswith("UP"),
              "unit 2 not UP meanwhile: %s" % E.stats())
        time.sleep(2)

        print("the liar is honest again: unit 1 comes back by itself")
        honest, up, opened_at = turn(E, liar, "ok", "UP", "clock gate open",
                                     closed_at)
        time.sleep(2.5)
    finally:
        for c in clients:
            c.stop = True
        for c in clients:
            c.join(30)
        if E is not None:
            E.stop()
        liar.close()
        chronyd.terminate()
        chronyd.wait(timeout=5)

    replies = [r for c in clients for r in c.replies]
    errors = [e for c in clients for e in c.errors]
    check(not errors, "%d connection errors: %s" % (len(errors), errors[:3]))
    tokens, refused, unavailable, other = [], 0, 0, []
    for t, st, body in replies:
        if st == 503:
            unavailable += 1
            continue
        try:
            status, bits = edge.pki_status(body) if st == 200 else (-1, ())
        except (IndexError, ValueError):
            status, bits = -1, ()
        if status in (0, 1):
            tokens.append(body)
        elif status == 2 and TIME_NOT_AVAILABLE in bits:
            refused += 1
        else:
            other.append((st, status, sorted(bits), body[:40].hex()))
    check(not other, "%d replies neither a token nor timeNotAvailable nor "
          "503: %s" % (len(other), other[:3]))

    by_unit, late = {}, []
    for tok in tokens:
        serial, gen = edge.tst_fields(tok)
        by_unit.setdefault(serial >> 64, []).append(gen)
        # Log lines are written after the verdict, to the millisecond.
        if serial >> 64 == 1 and closed_at + 0.001 < gen < opened_at:
            late.append((hex(serial), gen))
    check(not late, "unit 1 tokens with a genTime while its gate was "
          "closed (%.3f to %.3f): %s" % (closed_at, opened_at, late[:3]))
    check(set(by_unit) == {1, 2}, "tokens by unit: %s" % {
        u: len(v) for u, v in by_unit.items()})
    during = [g for g in by_unit.get(2, []) if closed_at < g < opened_at]
    check(len(during) > 0, "unit 2 served nothing while unit 1 was out")
    back = [g for g in by_unit.get(1, []) if g > opened_at]
    check(len(back) > 0, "unit 1 answered nothing after it came back")

    allf = os.path.join(tmp, "tokens.der")
    with open(allf, "wb") as f:
        f.write(b"".join(tokens))
    p = subprocess.run([CARIMBO, "ledger", "prove", os.path.join(E.s1,
                        "ledger"), os.path.join(E.s2, "ledger"), "--batch",
                        "--token", allf, "--ca", E.root, "--untrusted",
                        E.untrusted], capture_output=True, timeout=600)
    out = p.stdout.decode()
    check(p.returncode == 0 and "%d of %d tokens in the ledger, 0 not, 0 "
          "unusable" % (len(tokens), len(tokens)) in out,
          "every token proven in its unit's ledger: %s %s" % (
              out[-400:], p.stderr.decode()[-300:]))

    print("haproxy_clock: %d replies: %d tokens (unit 1 %d, unit 2 %d), %d "
          "timeNotAvailable, %d 503; gate closed %.2f s after the jump, "
          "unit 1 DOWN %.2f s after it closed; gate open again %.2f s and "
          "unit 1 UP %.2f s after the liar was honest" % (
              len(replies), len(tokens), len(by_unit.get(1, [])),
              len(by_unit.get(2, [])), refused, unavailable,
              closed_at - jump, out_after, opened_at - honest,
              up if up is not None else -1))
    if failures:
        for n in (1, 2):
            print(open(E.unit_log(n), errors="replace").read()[-1500:])
        print(open(E.hlog, errors="replace").read()[-1500:])
        print("%d failures" % len(failures))
        sys.exit(1)
    shutil.rmtree(tmp, ignore_errors=True)
    print("haproxy_clock: ok")


if __name__ == "__main__":
    main()
