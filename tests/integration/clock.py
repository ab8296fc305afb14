# SPDX-License-Identifier: ISC
"""The clock against a real chronyd and a lying NTP server, loopback only.

A chronyd started unprivileged for the test (start_chronyd(): `chronyd -x`
on loopback ports, its files in a temporary directory) is the NTP server
our client queries and the daemon whose tracking `chronyc -c` reports; a
small NTP server in this file tells the truth, then lies (+2 s, -0.3 s,
kiss-o'-death, leap 3, silence).  `carimbo clock run` keeps the
clock thread going while the lies change; then `clock audit` must verify
the log and list one closure per lie that breaks the 1 s accuracy (not the
-0.3 s one), `clock report` must draw a point per sample in well-formed
XHTML, and every kind of tampering must be detected and located.
Bounded: about 15 s.  Exit 77 when chronyd cannot run here.
"""
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
from net import free_port  # noqa: E402  (tests/integration/lib)

CARIMBO = os.environ.get("CARIMBO", "build/carimbo")
NTP_EPOCH = 2208988800
HDR = 28            # struct audit_wire_hdr
HASH = 32


def skip(why):
    print(why)
    sys.exit(77)


def fail(why):
    print("FAIL:", why)
    sys.exit(1)


def ntp_ts(t):
    s = int(t)
    return ((s + NTP_EPOCH) & 0xFFFFFFFF) << 32 | int((t - s) * (1 << 32))


class Liar:
    """An NTP server on 127.0.0.1 whose answers follow self.mode."""

    def __init__(self):
        self.mode = "ok"
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                req, addr = self.sock.recvfrom(1024)
            except socket.timeout:
                continue
            rx = time.time()
            mode = self.mode
            if len(req) < 48 or mode == "silent":
                continue
            li, stratum, refid, shift = 0, 2, b"LIAR", 0.0
            if mode == "kod-rate":
                stratum, refid = 0, b"RATE"
            elif mode == "leap3":
                li = 3
            elif mode != "ok":
                shift = float(mode)
            tx = time.time() + shift
            pkt = struct.pack(">BBbbII4sQ8sQQ", li << 6 | 4 << 3 | 4,
                              stratum, 4, -20, 0x100, 0x100, refid,
                              ntp_ts(tx - 16), req[40:48],
                              ntp_ts(rx + shift), ntp_ts(tx))
            self.sock.sendto(pkt, addr)

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def start_chronyd(d):
    if shutil.which("chronyd") is None or shutil.which("chronyc") is None:
        skip("chronyd/chronyc not installed (Debian package chrony)")
    port, cmdport = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    user = __import__("pwd").getpwuid(os.getuid()).pw_name
    conf = os.path.join(d, "chrony.conf")
    with open(conf, "w") as f:
        f.write(f"""port {port}
cmdport {cmdport}
bindaddress 127.0.0.1
bindcmdaddress 127.0.0.1
bindcmdaddress {d}/chronyd.sock
allow 127.0.0.1
cmdallow 127.0.0.1
local stratum 10
user {user}
pidfile {d}/chronyd.pid
driftfile {d}/drift
logdir {d}
""")
    log = open(os.path.join(d, "chronyd.log"), "w")
    p = subprocess.Popen(["chronyd", "-x", "-U", "-d", "-f", conf],
                         stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 5
    while time.time() < deadline:
        if p.poll() is not None:
            break
        r = subprocess.run(["chronyc", "-c", "-n", "-h", "127.0.0.1", "-p",
                            str(cmdport), "tracking"], capture_output=True,
                           text=True, timeout=5)
        if r.returncode == 0 and r.stdout.count(",") == 13:
            return p, port, cmdport
        time.sleep(0.2)
    p.kill()
    p.wait()
    with open(os.path.join(d, "chronyd.log")) as f:
        skip("chronyd cannot run here: " + f.read().strip().replace("\n",
                                                                   "; "))


def records(path):
    """(offset, total length, type, seq) of each record in a log file."""
    out, b, off = [], open(path, "rb").read(), 0
    while off < len(b):
        ln = struct.unpack(">I", b[off + 8:off + 12])[0]
        typ, seq = b[off + 4], struct.unpack(">Q", b[off + 12:off + 20])[0]
        out.append((off, HDR + ln + HASH, typ, seq))
        off += HDR + ln + HASH
    return out


def audit(files, pub, *extra):
    r = subprocess.run([CARIMBO, "clock", "audit", *files, "--pubkey", pub,
                        *extra], capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr


def tamper_case(name, d, files, pub, mutate, expect):
    t = os.path.join(d, "tamper-" + name)
    os.mkdir(t)
    copies = []
    for f in files:
        shutil.copy(f, t)
        copies.append(os.path.join(t, os.path.basename(f)))
    copies = mutate(copies) or copies
    rc, out = audit(copies, pub)
    if rc == 0 or not re.search(expect, out):
        fail(f"tamper {name}: rc {rc}, expected /{expect}/ in:\n{out}")
    loc = [line for line in out.splitlines() if line.startswith("FAIL")]
    print(f"tamper {name}: detected: {loc[0]}")


def main():
    d = tempfile.mkdtemp(prefix="carimbo-clock-")
    os.chmod(d, 0o700)
    chronyd = liar = run = None
    try:
        chronyd, port, cmdport = start_chronyd(d)
        liar = Liar()
        r = subprocess.run([CARIMBO, "clock", "keygen", d],
                           capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            fail("clock keygen: " + r.stderr)
        if os.stat(os.path.join(d, "clock-seal.key")).st_mode & 0o077:
            fail("clock-seal.key is readable by others")
        conf = os.path.join(d, "carimbo.conf")
        with open(conf, "w") as f:
            f.write(f"""clock_mode = strict
# chronyd -x never clears STA_UNSYNC here (no rtcsync).
clock_kernel = ignore
clock_chrony = 127.0.0.1:{cmdport}
ntp_server = 127.0.0.1:{port}
ntp_server = 127.0.0.1:{liar.port}
clock_min_sources = 3
clock_poll_ms = 150
clock_hold_ms = 400
clock_ntp_timeout_ms = 300
clock_seal_interval_ms = 1000
clock_audit_max_bytes = 16384
""")
        # status: every source read, the gate open.
        r = subprocess.run([CARIMBO, "clock", "status", "-c", conf],
                           capture_output=True, text=True, timeout=20)
        print(r.stdout)
        if r.returncode != 0 or "gate: OPEN" not in r.stdout:
            fail("clock status: gate not open with chronyd and an honest "
                 "server:\n" + r.stdout + r.stderr)
        if not re.search(r"^chrony\s+chrony\s+yes", r.stdout, re.M):
            fail("chrony tracking not read")
        if not re.search(rf"^127\.0\.0\.1:{port}\s+ntp\s+yes", r.stdout,
                         re.M):
            fail("chronyd not queried over NTP")

        run = subprocess.Popen([CARIMBO, "clock", "run", "-c", conf,
                                "--seconds", "60"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
        lines = []

        def reader():
            for line in run.stdout:
                lines.append(line)

        rt = threading.Thread(target=reader, daemon=True)
        rt.start()

        def wait_for(pattern, since, timeout=6.0):
            deadline = time.time() + timeout
            while time.time() < deadline:
                for line in lines[since:]:
                    if re.search(pattern, line):
                        return
                time.sleep(0.05)
            fail(f"no /{pattern}/ within {timeout} s:\n" + "".join(lines))

        # Each lie must close the gate; the truth must reopen it after
        # the hold time.  Waits follow the log, so a slow machine only
        # takes longer.
        wait_for("clock gate open: ", 0)
        for lie, why in [("+2", "offset \\+(1\\.99|2\\.0)"),
                         ("kod-rate", "RATE"),
                         ("leap3", "leap indicator 3"),
                         ("silent", "no reply")]:
            n = len(lines)
            liar.mode = lie
            wait_for("clock gate CLOSED: .*" + why, n)
            n = len(lines)
            liar.mode = "ok"
            wait_for("clock gate open: ", n)
            if lie == "+2":
                n = len(lines)
                liar.mode = "-0.3"
                time.sleep(1.0)
                if any("CLOSED" in line and f":{liar.port}: offset" in line
                       for line in lines[n:]):
                    fail("-0.3 s is within the 1 s accuracy but closed "
                         "the gate:\n" + "".join(lines[n:]))
                liar.mode = "ok"
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=20)
        rt.join(timeout=5)
        print("".join(lines))
        if run.returncode != 0:
            fail(f"clock run exited {run.returncode}")

        logs = sorted(os.path.join(d, "clock", f)
                      for f in os.listdir(os.path.join(d, "clock"))
                      if f.endswith(".log"))
        if len(logs) < 3:
            fail(f"expected rotation into several files, got {len(logs)}")
        pub = os.path.join(d, "clock-seal.pub")
        rc, aout = audit(logs, pub)
        print(aout)
        if rc != 0 or "RESULT: OK" not in aout:
            fail("clock audit of an untouched log failed")
        rc, dout = audit([os.path.join(d, "clock")], pub)
        if rc != 0 or f"clock audit: {len(logs)} files" not in dout:
            fail("clock audit of the log directory:\n" + dout)
        m = re.search(r"(\d+) closures", aout)
        if m is None or int(m.group(1)) < 4:
            fail("expected 4 closures (+2, KoD, leap 3, silence)")
        nclosures = int(m.group(1))
        for why in ["offset \\+(1\\.99|2\\.0)", "RATE", "leap indicator 3",
                    "no reply"]:
            if not re.search(r"^  \S+ to \S+ .*" + why, aout, re.M):
                fail("the audit lists no closure for " + why)
        nsamples = 0
        for line in aout.splitlines():
            f = line.split()
            if len(f) == 6 and f[1].isdigit() and f[0] != "kernel":
                nsamples += int(f[1])
                if int(f[2]) == 0:
                    fail(f"source {f[0]}: no good sample")
        if nsamples == 0:
            fail("no samples counted")

        html = os.path.join(d, "report.html")
        r = subprocess.run([CARIMBO, "clock", "report", *logs, "-o", html],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            fail("clock report: " + r.stderr)
        if shutil.which("xmllint"):
            r = subprocess.run(["xmllint", "--noout", html],
                               capture_output=True, text=True)
            if r.returncode != 0:
                fail("report is not well-formed: " + r.stderr)
        body = open(html).read()
        pts = len(re.findall(r'class="sample', body))
        if pts != nsamples:
            fail(f"report has {pts} points for {nsamples} samples")
        if body.count('class="closed"') != nclosures or \
                'class="seal"' not in body:
            fail("report lacks closures or seals")
        if "http://" in body.replace("http://www.w3.org/", ""):
            fail("report refers to the network")
        print(f"report: {pts} points, {nclosures} closures shaded")
        if os.environ.get("CLOCK_REPORT_OUT"):
            shutil.copy(html, os.environ["CLOCK_REPORT_OUT"])

        # Tampering, each detected and located.
        first = logs[0]
        recs = records(first)
        mid = recs[len(recs) // 2]

        def flip(c):
            b = bytearray(open(c[0], "rb").read())
            b[mid[0] + HDR + 40] ^= 0x01
            open(c[0], "wb").write(b)

        def delete(c):
            b = open(c[0], "rb").read()
            open(c[0], "wb").write(b[:mid[0]] + b[mid[0] + mid[1]:])

        def insert(c):
            b = open(c[0], "rb").read()
            rec = b[mid[0]:mid[0] + mid[1]]
            open(c[0], "wb").write(b[:mid[0]] + rec + b[mid[0]:])

        def swap(c):
            b = open(c[0], "rb").read()
            a, n = mid, recs[len(recs) // 2 + 1]
            ra, rn = b[a[0]:a[0] + a[1]], b[n[0]:n[0] + n[1]]
            open(c[0], "wb").write(b[:a[0]] + rn + ra + b[n[0] + n[1]:])

        def truncate_mid(c):
            b = open(c[-1], "rb").read()
            open(c[-1], "wb").write(b[:len(b) - 50])

        def truncate_end(c):
            last = records(c[-1])[-1]
            b = open(c[-1], "rb").read()
            open(c[-1], "wb").write(b[:last[0]])

        def forge_seal(c):
            # A seal whose signature is changed, chain hash recomputed so
            # only the signature can tell.
            import hashlib
            b = bytearray(open(c[0], "rb").read())
            rs = records(c[0])
            i = next(k for k, r in enumerate(rs) if r[2] == 6)
            off, ln = rs[i][0], rs[i][1]
            b[off + HDR + 8 + 32] ^= 0xff
            prev = b[rs[i - 1][0] + rs[i - 1][1] - HASH:
                     rs[i - 1][0] + rs[i - 1][1]]
            h = prev
            for k in range(i, len(rs)):
                o, n = rs[k][0], rs[k][1]
                h = hashlib.sha256(bytes(h) + bytes(b[o:o + n - HASH])
                                   ).digest()
                b[o + n - HASH:o + n] = h
            open(c[0], "wb").write(b)

        def drop_file(c):
            return [c[0]] + c[2:]

        def reorder_files(c):
            return [c[1], c[0]] + c[2:]

        def swap_file(c):
            # A file from another run (its own chain) in place of one.
            other = os.path.join(d, "other")
            subprocess.run([CARIMBO, "clock", "run", "-c", conf,
                            "--seconds", "1"], capture_output=True,
                           timeout=20, env=dict(os.environ))
            newest = sorted(os.listdir(os.path.join(d, "clock")))[-1]
            os.makedirs(other, exist_ok=True)
            shutil.copy(os.path.join(d, "clock", newest), c[1])
            return c

        tamper_case("flip", d, logs, pub, flip, r"FAIL .*offset \d+, "
                    r"record \d+: content does not match")
        tamper_case("delete", d, logs, pub, delete, r"record \d+: records "
                    r"\d+\.\.\d+ missing")
        tamper_case("insert", d, logs, pub, insert, r"sequence goes back")
        tamper_case("swap", d, logs, pub, swap, r"missing|goes back")
        tamper_case("truncate", d, logs, pub, truncate_mid,
                    r"truncated inside a record")
        tamper_case("truncate-at-record", d, logs, pub, truncate_end,
                    r"without a seal")
        tamper_case("forge-seal", d, logs, pub, forge_seal,
                    r"Ed25519 signature does not verify")
        tamper_case("drop-file", d, logs, pub, drop_file,
                    r"does not continue the previous file")
        tamper_case("reorder-files", d, logs, pub, reorder_files,
                    r"does not continue the previous file")
        tamper_case("swap-file", d, logs, pub, swap_file,
                    r"does not continue the previous file")
        # The wrong key.
        subprocess.run([CARIMBO, "clock", "keygen", os.path.join(d, "tamper-"
                        "flip")], capture_output=True, timeout=10)
        rc, out = audit(logs, os.path.join(d, "tamper-flip",
                                           "clock-seal.pub"))
        if rc == 0 or "Ed25519 signature does not verify" not in out:
            fail("a seal checked against the wrong key passed")
        print("clock: all checks passed")
    finally:
        if run is not None and run.poll() is None:
            run.kill()
            run.wait()
        if liar is not None:
            liar.close()
        if chronyd is not None:
            chronyd.terminate()
            try:
                chronyd.wait(timeout=5)
            except subprocess.TimeoutExpired:
                chronyd.kill()
                chronyd.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
