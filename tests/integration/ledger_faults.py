#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# The ledger under faults (doc/design.md "The ledger's promise"): a ledger
# write that fails (a real EFBIG: the server runs under
# `prlimit --fsize`), with either ledger_sync (direct writes, or write
# then fdatasync), turns the replies of its rounds into systemFailure
# rejections; no token leaves without its record, the ledger is rolled
# back and verifies, and the server keeps serving, /health answering 503
# "ledger: EFBIG" while the limit keeps the ledger from repair.  The ledger is records
# then zeros (doc/ledger.md "File layout"): start-up grows it only up to
# the limit, and the first write that fails is the write of zeros that
# would grow it past the limit, linked before the batch.
#
# kill -9 under load (/ and /ers, the clock's seals, the CA beside the
# server) is crash_cycles.py.
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve as S  # noqa: E402

FSIZE = 24 * 1024      # above every token and CA file, below a long ledger


class Limited(S.Server):
    """carimbo serve under a file size limit (RLIMIT_FSIZE)."""

    def __init__(self, conf, fsize):
        self.err = open(S.path("server.log"), "ab")
        self.p = subprocess.Popen(["prlimit", "--fsize=%d" % fsize, "--",
                                   S.CARIMBO, "serve", "-c", conf,
                                   "--listen", "127.0.0.1:0"],
                                  stdout=subprocess.PIPE, stderr=self.err)
        line = self.p.stdout.readline().decode()
        m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            raise SystemExit("server did not start: %r" % line)
        self.port = int(m.group(1))
        self.url = "http://127.0.0.1:%d/" % self.port


def ledger_verify(led):
    p = S.run(S.CARIMBO, "ledger", "verify", led, ok=False)
    return p.returncode, p.stdout.decode() + p.stderr.decode()


def efbig(sync, body):
    """A ledger write fails (EFBIG) with ledger_sync = sync."""
    print("a ledger write fails (EFBIG, ledger_sync = %s): systemFailure, "
          "never a token" % sync)
    ldir = "ledger-efbig-" + sync
    led = os.path.join(S.STATE, ldir, "carimbo.ledger")
    conf = S.write_conf("clock_audit_log = none\nanchor_seconds = 0\n"
                        "ledger_dir = %s\nledger_sync = %s" % (ldir, sync))
    logpos = os.path.getsize(S.path("server.log")) if os.path.exists(
        S.path("server.log")) else 0
    srv = Limited(conf, FSIZE)
    s, f = S.connect(srv.port)
    granted = failed = 0
    first_fail = None
    for i in range(200):
        s.sendall(S.http_msg(body))
        st, h, b = S.read_response(f)
        r = S.path("f%s%d.tsr" % (sync, i))
        open(r, "wb").write(b)
        text = S.reply_text(r)
        if S.field(text, "Status") == "Granted.":
            S.check(failed == 0, "a token granted after a failed write "
                    "(%d) must come from a record written later" % i)
            granted += 1
        else:
            S.check("system failure" in text, "rejection is systemFailure: "
                    "%r" % text)
            failed += 1
            first_fail = first_fail or i
            if failed >= 5:
                break
    s.close()
    S.check(granted > 10 and failed >= 5, "granted %d, then failed %d" % (
        granted, failed))
    st, h, b = S.exchange(srv.port, S.http_msg(method="GET",
                                                target="/health", ctype=None))
    # The limit stays: the ledger cannot be repaired, and /health says so.
    S.check(st == 503 and b'"reason":"ledger: EFBIG' in b,
            "still serving after the failed writes, /health names the "
            "fault: %d %r" % (st, b[:200]))
    S.check(srv.stop() == 0, "exit 0")
    log = open(S.path("server.log")).read()[logpos:]
    # direct falls back, saying so, where the file system refuses it.
    direct = "batches are direct writes" in log
    refused = re.search(r"warning: ledger: .*(O_DIRECT|a direct write).*"
                        r"; batches are "
                        r"written, then fdatasync'ed", log) is not None
    S.check(direct if sync == "direct" and not refused
            else not direct and "written, then fdatasync'ed" in log,
            "the log says how batches are made durable (%s)" % sync)
    S.check(re.search(r"ledger: (short write|write failed)", log) and
            "become systemFailure" in log, "the log says what failed")
    S.check(re.search(r"growing by \d+ zero bytes: File too large", log),
            "the zero write growing the file met EFBIG")
    rc, out = ledger_verify(led)
    S.check(rc == 0 and "%d standard tokens" % granted in out,
            "the ledger verifies and holds exactly the %d granted: %s" % (
                granted, out))
    for i in (0, granted - 1):
        p = S.run(S.CARIMBO, "ledger", "prove", led, "--token",
                  S.path("f%s%d.tsr" % (sync, i)), ok=False)
        S.check(p.returncode == 0, "granted token %d proven" % i)


def main():
    if subprocess.run(["which", "prlimit"], capture_output=True).returncode:
        print("prlimit (util-linux) is not installed")
        sys.exit(77)
    S.run(S.CARIMBO, "init", "--demo", S.STATE)
    led = os.path.join(S.STATE, "ledger", "carimbo.ledger")
    _, q = S.query("f", "-sha256")
    body = open(q, "rb").read()
    for sync in ("direct", "fdatasync"):
        efbig(sync, body)

    print("%d checks, %d failed" % (S.checks, len(S.failures)))
    if S.failures:
        print("server log:\n" + open(S.path("server.log")).read()[-3000:])
        sys.exit(1)
    subprocess.run(["rm", "-rf", S.TMP])


if __name__ == "__main__":
    main()
