#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# The disks failing under load (issue 15, "Parts that fail: the disk";
# doc/design.md "The ledger's promise", "Serials", "The clock gate"):
#
# 1. ENOSPC: the ledger on a small tmpfs, full but for 64 KiB, which
#    four clients loading / and /ers fill; then the filler goes.
# 2. EIO: the ledger and the serial file on faultfs (tests/tools/faultfs.c,
#    FUSE), which fails on command every write, then every file sync,
#    then every directory sync (reached by the serial file's rename
#    only), each cleared after the server showed it; with either
#    ledger_sync.
# 3. The clock's audit log on a small tmpfs that fills up (strict clock
#    mode, two honest NTP servers on loopback).
#
# Through each: every reply is a grant or a rejection with the failInfo
# the fault calls for (systemFailure for the ledger and the serials,
# timeNotAvailable for the audit log), /health answers 503 and names the
# fault ("ledger: ENOSPC", "ledger: EIO", "serials: EIO", the audit log)
# while it lasts and 200 once the server resumed by itself, the serial
# file never goes backwards and stays above every serial issued, and
# afterwards `carimbo ledger verify` passes and `carimbo ledger prove`
# finds every token and evidence record a client received granted.
#
# Needs root to mount (exit 77 with the reason where mounting is refused)
# and /dev/fuse; faultfs is built by `make test` ($B/tests/faultfs).
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clock as ck  # noqa: E402  (the honest NTP servers)
import serve as S  # noqa: E402

FAULTFS = os.path.join(os.path.dirname(S.CARIMBO), "tests", "faultfs")
CLIENTS = 4
FAIL_SYSTEM = 25            # PKIFailureInfo bits (RFC 3161 2.4.2)
FAIL_TIME = 14
mounts = []                 # every mount point, unmounted at exit
procs = []                  # every child left running, killed at exit


def skip(why):
    print(why)
    sys.exit(77)


def der_tlv(b, i):
    """(tag, start of content, end) of the DER TLV at b[i]."""
    tag, n = b[i], b[i + 1]
    if n < 0x80:
        return tag, i + 2, i + 2 + n
    k = n & 0x7f
    n = int.from_bytes(b[i + 2:i + 2 + k], "big")
    return tag, i + 2 + k, i + 2 + k + n


def tsp_status(body):
    """(status, set of failInfo bits) of a TimeStampResp."""
    _, i, _ = der_tlv(body, 0)              # TimeStampResp
    _, i, end = der_tlv(body, i)            # PKIStatusInfo
    _, s, e = der_tlv(body, i)
    status = int.from_bytes(body[s:e], "big")
    bits = set()
    i = e
    while i < end:
        tag, s, e = der_tlv(body, i)
        if tag == 0x03:                     # failInfo BIT STRING
            for k, byte in enumerate(body[s + 1:e]):
                for b in range(8):
                    if byte & (0x80 >> b):
                        bits.add(8 * k + b)
        i = e
    return status, bits


def mount_tmpfs(mnt, size):
    os.makedirs(mnt, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size,
                        "tmpfs", mnt], capture_output=True, text=True)
    if p.returncode != 0:
        skip("cannot mount a tmpfs here (%s): the disk-full cases need "
             "root and mount(2)" % p.stderr.strip())
    mounts.append(mnt)


def mount_faultfs(back, mnt):
    if not os.path.exists(FAULTFS):
        raise SystemExit("%s missing: make test builds it" % FAULTFS)
    if not os.path.exists("/dev/fuse"):
        skip("no /dev/fuse: the EIO cases need FUSE")
    os.makedirs(back, exist_ok=True)
    os.makedirs(mnt, exist_ok=True)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    p = subprocess.Popen([FAULTFS, back, mnt, "-f"], env=env,
                         stderr=open(S.path("faultfs.log"), "ab"))
    procs.append(p)
    deadline = time.time() + 10
    while not os.path.ismount(mnt):
        if p.poll() is not None or time.time() > deadline:
            skip("faultfs could not mount (FUSE refused here?): " +
                 open(S.path("faultfs.log")).read()[-300:])
        time.sleep(0.05)
    mounts.append(mnt)


def unmount_all():
    for p in procs:
        if p.poll() is None and p.args[0] != FAULTFS:
            p.kill()
            p.wait()
    for m in reversed(mounts):
        if subprocess.run(["umount", m], capture_output=True).returncode:
            subprocess.run(["umount", "-l", m], capture_output=True)
    for p in procs:
        if p.poll() is None:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
    mounts.clear()


def fill(mnt, leave):
    """Fills the file system at mnt but for leave bytes; returns the file."""
    f = os.path.join(mnt, "filler")
    st = os.statvfs(mnt)
    free = st.f_bavail * st.f_frsize
    with open(f, "ab") as fh:
        fh.write(b"\xff" * max(0, free - leave))
    return f


def faults(mnt, words):
    with open(os.path.join(mnt, ".faultfs"), "w") as f:
        f.write(words + "\n")


def health(port):
    st, h, b = S.exchange(port, S.http_msg(method="GET", target="/health",
                                           ctype=None))
    return st, json.loads(b.decode())


def wait_health(port, pred, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st, j = health(port)
        if pred(st, j):
            return st, j
        time.sleep(0.05)
    S.check(False, "/health never showed %s: %d %s" % (what, st, j))
    return st, j


class Load:
    """CLIENTS keep-alive connections alternating / and /ers, each
    bounded in count and time; every reply kept."""

    def __init__(self, port, body, limit=40000, seconds=120):
        self.port, self.body = port, body
        self.stop = False
        self.lock = threading.Lock()
        self.got = []
        self.deadline = time.time() + seconds
        self.limit = limit
        self.threads = [threading.Thread(target=self.client, args=(n,),
                                         daemon=True)
                        for n in range(CLIENTS)]
        for t in self.threads:
            t.start()

    def client(self, n):
        s, f = S.connect(self.port)
        k = 0
        while not self.stop and k < self.limit and \
                time.time() < self.deadline:
            target = "/ers" if (n + k) % 2 else "/"
            s.sendall(S.http_msg(self.body, target=target))
            r = S.read_response(f)
            if r is None:
                break
            with self.lock:
                self.got.append((target, r))
            k += 1
        s.close()

    def count(self):
        with self.lock:
            return len(self.got)

    def since(self, i):
        with self.lock:
            return self.got[i:]

    def end(self):
        self.stop = True
        for t in self.threads:
            t.join(timeout=30)
        return self.got


def verdict(target, r):
    """'granted', or the set of failInfo bits of a rejection."""
    st, h, b = r
    if st != 200:
        return "http %d" % st
    if target == "/ers" and h.get("content-type") == \
            "application/evidence-record":
        return "granted"
    status, bits = tsp_status(b)
    return "granted" if status in (0, 1) else frozenset(bits)


class SerialWatch:
    """Reads the serial file every few ms: its values, in order."""

    def __init__(self, path):
        self.path, self.values, self.stop = path, [], False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            try:
                m = re.search(r"reserved=(\d+)", open(self.path).read())
                if m:
                    self.values.append(int(m.group(1)))
            except OSError:
                pass
            time.sleep(0.005)

    def end(self):
        self.stop = True
        self.t.join()
        v = self.values
        S.check(len(v) > 0 and all(a <= b for a, b in zip(v, v[1:])),
                "the serial file never went backwards (%d readings, "
                "first %s, last %s)" % (len(v), v[:1], v[-1:]))
        return v


def wait_replies(load, pred, what, n=8, timeout=30):
    """Waits until n replies in a row after now satisfy pred."""
    start = load.count()
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = load.since(start)
        run = 0
        for t, r in got:
            run = run + 1 if pred(verdict(t, r)) else 0
            if run >= n:
                return True
        time.sleep(0.05)
    S.check(False, "no %d replies in a row that are %s" % (n, what))
    return False


# id-ct-TSTInfo (RFC 3161 2.4.2), as DER: the eContentType of every token.
OID_TSTINFO = bytes.fromhex("060b2a864886f70d0109100104")


def tstinfo_hash(der):
    """SHA-256 of the TSTInfo of the one token in a TimeStampResp or an
    EvidenceRecord: what the ledger records (doc/ledger.md)."""
    i = der.index(OID_TSTINFO) + len(OID_TSTINFO)
    tag, s, _ = der_tlv(der, i)             # [0] EXPLICIT eContent
    assert tag == 0xa0, "no eContent after id-ct-TSTInfo"
    tag, s, e = der_tlv(der, s)
    assert tag == 0x04, "eContent is not an OCTET STRING"
    return hashlib.sha256(der[s:e]).digest()


def ledger_hashes(led):
    """Read independently of carimbo: the TSTInfo hashes the ledger's
    records commit to (doc/ledger.md: a tokens record lists them, an /ers
    record holds its round token's)."""
    b = open(os.path.join(led, "carimbo.ledger"), "rb").read()
    toks, ers, off = set(), set(), 0
    while off + 200 <= len(b) and b[off:off + 4] == b"CRBL":
        kind = b[off + 5]
        n = int.from_bytes(b[off + 8:off + 12], "big")
        plen = int.from_bytes(b[off + 188:off + 192], "big")
        pay = b[off + 200:off + 200 + plen]
        if kind == 2:
            toks.update(pay[k:k + 32] for k in range(0, plen, 32))
        elif kind == 1:
            ers.add(pay)
        off += n
    S.check(not b[off:].strip(b"\0"), "only zeros after the last record")
    return toks, ers


def prove_all(led, got, tag):
    """Every granted reply is in the ledger: all of them checked by the
    record reader above, and by `carimbo ledger prove` the first and last
    of each kind and every one just before or after a failure."""
    t0 = time.time()
    p = S.run(S.CARIMBO, "ledger", "verify", led, ok=False)
    out = p.stdout.decode() + p.stderr.decode()
    S.check(p.returncode == 0 and "OK" in out,
            "%s: ledger verify: %s" % (tag, out))
    toks, ers = ledger_hashes(led)
    v = [verdict(t, r) for t, r in got]
    n = bad = 0
    edges = set()
    for kind in ("/", "/ers"):
        idx = [i for i, (t, r) in enumerate(got)
               if t == kind and v[i] == "granted"]
        edges.update(idx[:1] + idx[-1:])
    for i in range(1, len(got)):
        if (v[i] == "granted") != (v[i - 1] == "granted"):
            edges.add(i if v[i] == "granted" else i - 1)
    proved = 0
    for i, (t, r) in enumerate(got):
        if v[i] != "granted":
            continue
        n += 1
        if tstinfo_hash(r[2]) not in (ers if t == "/ers" else toks):
            bad += 1
            if bad < 4:
                S.check(False, "%s: granted reply %d (%s) has no record in "
                        "the ledger" % (tag, i, t))
        if i in edges:
            f = S.path("%s-%d.%s" % (tag, i, "er" if t == "/ers" else
                                     "tsr"))
            open(f, "wb").write(r[2])
            p = S.run(S.CARIMBO, "ledger", "prove", led,
                      "--er" if t == "/ers" else "--token", f, ok=False)
            proved += 1
            S.check(p.returncode == 0 and b"IS in the ledger" in p.stdout,
                    "%s: ledger prove of granted reply %d (%s): %s" % (
                        tag, i, t, p.stdout.decode()[-300:]))
    S.check(bad == 0 and n > 0, "%s: %d granted replies in the ledger, %d "
            "not" % (tag, n, bad))
    print("  %s: %d granted replies found in the ledger, %d of them by "
          "ledger prove (%.1f s)" % (tag, n, proved, time.time() - t0))
    return n


def max_serial(got):
    m = 0
    for t, r in got:
        if t == "/" and verdict(t, r) == "granted":
            f = S.path("serial.tsr")
            open(f, "wb").write(r[2])
            m = max(m, S.serial_of(f))
    return m & ((1 << 64) - 1)          # the counter, under the unit id


def check_replies(got, allowed, tag):
    """Every reply is a grant or a rejection with failInfo in allowed."""
    kinds = {}
    for t, r in got:
        v = verdict(t, r)
        k = v if isinstance(v, str) else "failInfo %s" % sorted(v)
        kinds[k] = kinds.get(k, 0) + 1
        if v != "granted" and v not in [frozenset([b]) for b in allowed]:
            S.check(False, "%s: reply %s to %s" % (tag, v, t))
            break
    print("  %s: %s" % (tag, kinds))
    return kinds


def conf_for(d, serials, extra=""):
    return S.write_conf("ledger_dir = %s\nserial_file = %s\n"
                        "serial_block = 40\nanchor_seconds = 1\n"
                        "clock_audit_log = none\n%s" % (
                            os.path.join(d, "ledger"), serials, extra))


class Server(S.Server):
    """carimbo serve with more arguments, killed at exit if still up."""

    def __init__(self, conf, *args):
        self.err = open(S.path("server.log"), "ab")
        self.p = subprocess.Popen([S.CARIMBO, "serve", "-c", conf,
                                   "--listen", "127.0.0.1:0", *args],
                                  stdout=subprocess.PIPE, stderr=self.err)
        procs.append(self.p)
        m = re.match(r"listening on 127\.0\.0\.1:(\d+)",
                     self.p.stdout.readline().decode())
        if not m:
            raise SystemExit("server did not start: " +
                             open(S.path("server.log")).read()[-2000:])
        self.port = int(m.group(1))


def granted(v):
    return v == "granted"


def episode(srv, load, what, begin, end, named, bit):
    """One fault under load, from begin() to end(): /health answers 503
    and named(its JSON) holds, every reply is refused with failInfo bit,
    then /health answers 200 again by itself and replies are granted."""
    wait_replies(load, granted, "granted before " + what)
    t0 = time.time()
    begin()
    st, j = wait_health(srv.port, lambda st, j: st == 503, "503: " + what)
    t1 = time.time()
    S.check(named(j), "/health names the fault (%s): %s" % (what, j))
    if "ledger" in j.get("reason", ""):
        st, h, b = S.exchange(srv.port, S.http_msg(
            method="GET", target="/metrics", ctype=None))
        S.check(b"carimbo_ledger_writable 0\n" in b, "/metrics: the "
                "ledger not writable: " + what)
    wait_replies(load, lambda v: v == frozenset([bit]), "refused (failInfo "
                 "%d): %s" % (bit, what))
    t2 = time.time()
    end()
    wait_health(srv.port, lambda st, j: st == 200, "200 after " + what)
    t3 = time.time()
    wait_replies(load, granted, "granted after " + what)
    print("  %s: /health 503 %.2f s after it began, 200 %.2f s after it "
          "ended, %d replies so far" % (what, t1 - t0, t3 - t2,
                                           load.count()))


def ledger_end(srv, load, got, serials, led, tag):
    """After the faults: replies, the serial file and the ledger."""
    S.check(srv.stop() == 0, "exit 0")
    check_replies(got, [FAIL_SYSTEM], tag)
    v = serials.end()
    S.check(v[-1] > max_serial(got), "the serial file (%d) stays above "
            "every serial issued" % v[-1])
    prove_all(led, got, tag)


def enospc(body):
    print("ENOSPC: the ledger's tmpfs fills up under load, then space "
          "returns")
    d = S.path("full")
    # Room for one growth of the ledger (LEDGER_PREALLOC, 4 MiB) once the
    # filler goes; until then 64 KiB, most of which the start-up growth
    # takes.  The serial file is elsewhere: the EIO cases fail its writes.
    mount_tmpfs(d, "6m")
    filler = fill(d, 64 * 1024)
    serials = S.path("serials-enospc")
    srv = Server(conf_for(d, serials))
    watch = SerialWatch(serials)
    load = Load(srv.port, body)
    episode(srv, load, "the ledger's disk full", lambda: None,
            lambda: os.unlink(filler),
            lambda j: "ledger: ENOSPC" in j.get("reason", "") and
            j.get("ledger") == "ENOSPC", FAIL_SYSTEM)
    ledger_end(srv, load, load.end(), watch, os.path.join(d, "ledger"),
               "enospc")


def eio(body, sync):
    print("EIO (ledger_sync = %s): faultfs fails writes, then syncs, then "
          "directory syncs, each cleared after a while" % sync)
    d = S.path("fuse-" + sync)
    mount_faultfs(S.path("back-" + sync), d)
    srv = Server(conf_for(d, os.path.join(d, "serials"),
                          "ledger_sync = %s\n" % sync))
    watch = SerialWatch(os.path.join(d, "serials"))
    load = Load(srv.port, body)
    for words, where in (("write=EIO", "ledger: EIO"),
                         ("fsync=EIO", "ledger: EIO"),
                         ("fsyncdir=EIO", "serials: EIO")):
        episode(srv, load, words, lambda: faults(d, words),
                lambda: faults(d, "none"),
                lambda j: where in j.get("reason", ""), FAIL_SYSTEM)
    ledger_end(srv, load, load.end(), watch, os.path.join(d, "ledger"),
               "eio-" + sync)


def audit_full(body):
    print("the clock audit log's tmpfs fills up: the gate closes, then "
          "reopens when space returns")
    d = S.path("audit")
    mount_tmpfs(d, "256k")
    liars = [ck.Liar(), ck.Liar()]
    try:
        conf = S.write_conf(
            "clock_audit_log = %s\nclock_kernel = ignore\n"
            "clock_chrony = none\nclock_min_sources = 2\n"
            "clock_poll_ms = 100\nclock_hold_ms = 0\n"
            "clock_ntp_timeout_ms = 300\nclock_seal_interval_ms = 500\n"
            % os.path.join(d, "clock"))
        srv = Server(conf, "--clock-mode", "strict",
                     *["--ntp-server=127.0.0.1:%d" % x.port for x in liars])
        wait_health(srv.port, lambda st, j: st == 200, "the gate open")
        load = Load(srv.port, body)
        filler = []
        episode(srv, load, "the audit log's disk full",
                lambda: filler.append(fill(d, 0)),
                lambda: os.unlink(filler[0]),
                lambda j: "audit" in j.get("reason", "") and "ENOSPC" in
                j.get("clock", {}).get("detail", ""), FAIL_TIME)
        got = load.end()
        S.check(srv.stop() == 0, "exit 0")
        check_replies(got, [FAIL_TIME], "audit")
        logs = sorted(os.path.join(d, "clock", f)
                      for f in os.listdir(os.path.join(d, "clock")))
        p = S.run(S.CARIMBO, "clock", "audit", *logs, "--pubkey",
                  os.path.join(S.STATE, "clock-seal.pub"), ok=False)
        out = p.stdout.decode() + p.stderr.decode()
        S.check(p.returncode == 0, "clock audit passes after the full "
                "disk: %s" % out[-600:])
        # Every refusal is in the log once it could be written again.
        m = re.search(r"refused requests: (\d+)", out)
        refused = sum(1 for t, r in got if verdict(t, r) ==
                      frozenset([FAIL_TIME]))
        S.check(m is not None and int(m.group(1)) >= refused,
                "the audit log counts the %d refusals: %s" % (
                    refused, m.group(0) if m else out[-300:]))
        log = open(S.path("server.log")).read()
        S.check(re.search(r"clock gate CLOSED: .*ENOSPC.*\n(.*\n)*.*clock "
                          r"gate open", log) is not None,
                "the log tells the closure (ENOSPC) and the reopening")
    finally:
        for x in liars:
            x.close()


def main():
    if os.geteuid() != 0:
        skip("not root: the disk-full cases mount a tmpfs")
    S.run(S.CARIMBO, "init", "--demo", S.STATE)
    _, q = S.query("q", "-sha256")
    body = open(q, "rb").read()
    t0 = time.time()
    try:
        enospc(body)
        eio(body, "fdatasync")
        eio(body, "direct")
        audit_full(body)
    finally:
        unmount_all()
    print("%d checks, %d failed, %.1f s" % (S.checks, len(S.failures),
                                            time.time() - t0))
    if S.failures:
        print("server log:\n" + open(S.path("server.log")).read()[-4000:])
        sys.exit(1)
    shutil.rmtree(S.TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
