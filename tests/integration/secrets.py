#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# The server's secrets, the token's PIN and the clock's seal key, judged
# from outside while it serves POST /, POST /ers and seals its clock log
# (doc/design.md "Secrets"):
#   - it is not dumpable: its /proc/PID files belong to root although it
#     runs as another user, and a process of that same user can open
#     neither its environ nor its memory (a dumpable process of that
#     user, the control, gets both);
#   - neither secret is in its command line, its environment or its log
#     (run with -v);
#   - in its memory (its resident pages, read as root through
#     /proc/PID/mem as a core dump or a debugger would; not under ASan),
#     the PIN is nowhere: it was wiped after the login; the seal key's
#     seed is there (the check would otherwise prove nothing) and every
#     copy of it lies in pages marked "dd" in smaps, which the kernel's
#     core dumper and gdb's gcore leave out, and which the process
#     itself cannot read (---p) between seals.
# Run as root (make test), the server runs as nobody, so that a process
# of its user is not also privileged; as another user, as that user.
import http.client
import json
import os
import pwd
import re
import signal
import subprocess
import sys
import tempfile
import time

CARIMBO = os.path.abspath(os.environ.get("CARIMBO", "build/carimbo"))
MODULE = os.environ.get("CARIMBO_PKCS11_MODULE",
                        "/usr/lib/softhsm/libsofthsm2.so")
TMP = tempfile.mkdtemp(prefix="carimbo-secrets-")
STATE = os.path.join(TMP, "state")
CONF = os.path.join(STATE, "carimbo.conf")
LOG = os.path.join(TMP, "server.log")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("  FAIL:", what)


ASAN = b"__asan_init" in open(CARIMBO, "rb").read()
if not os.access(MODULE, os.R_OK):
    print("FAIL: %s absent (make deps installs softhsm2)" % MODULE)
    sys.exit(1)

subprocess.run([CARIMBO, "init", "--demo", STATE], check=True,
               capture_output=True, timeout=120)
with open(CONF, "a") as f:
    f.write("\n# secrets.py: seals while the test looks.\n"
            "clock_poll_ms = 200\nclock_seal_interval_ms = 200\n")
PIN = open(os.path.join(STATE, "pin"), "rb").read().strip()
SEED_HEX = open(os.path.join(STATE, "clock-seal.key"), "rb").read().strip()
SEED = bytes.fromhex(SEED_HEX.decode())
check(len(PIN) >= 8 and len(SEED) == 32, "PIN or seal key not as expected")

if os.getuid() == 0:
    user = pwd.getpwnam("nobody")
    for d, dirs, files in os.walk(TMP):
        for n in [d] + [os.path.join(d, x) for x in dirs + files]:
            os.lchown(n, user.pw_uid, user.pw_gid)
    as_user = {"user": user.pw_uid, "group": user.pw_gid,
               "extra_groups": []}
else:
    user = pwd.getpwuid(os.getuid())
    as_user = {}
UID = user.pw_uid


def get(port, target):
    h = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        h.request("GET", target)
        r = h.getresponse()
        return r.status, r.read()
    finally:
        h.close()


def seals(port):
    st, body = get(port, "/metrics")
    m = re.search(rb"^carimbo_clock_seals_total (\d+)$", body, re.M)
    return int(m.group(1)) if st == 200 and m else -1


def bench(url):
    js = os.path.join(TMP, "bench.json")
    p = subprocess.run([CARIMBO, "bench", "--url", url, "--connections", "2",
                        "--duration", "1", "--quiet", "--json", js, "-c",
                        CONF], capture_output=True, timeout=60, **as_user)
    check(p.returncode == 0, "bench %s: exit %d: %s" % (
        url, p.returncode, p.stderr.decode(errors="replace")[-500:]))
    try:
        j = json.load(open(js))
    except (OSError, ValueError) as e:
        check(False, "bench %s: JSON: %s" % (url, e))
        return
    check(j.get("errors") == 0 and j.get("result", {}).get("ok", 0) > 0,
          "bench %s: %s errors, %s answers" % (
              url, j.get("errors"), j.get("result", {}).get("ok")))


def user_opens(path):
    """Whether a process of the server's user can open path to read."""
    p = subprocess.run(["sh", "-c", ': < "$1"', "sh", path],
                       capture_output=True, timeout=10, **as_user)
    return p.returncode == 0


def regions(pid):
    """(start, end, perms, vmflags) of each mapping, from smaps."""
    out, cur = [], None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
            if m:
                cur = [int(m.group(1), 16), int(m.group(2), 16),
                       m.group(3), ""]
                out.append(cur)
            elif line.startswith("VmFlags:") and cur is not None:
                cur[3] = line.split(":", 1)[1].split()
    return out


def resident(pid, start, end):
    """The runs [a, b) of pages of start..end that are in memory or in
    swap (/proc/PID/pagemap bits 63 and 62): reading only those through
    /proc/PID/mem faults nothing in, and what was never touched holds no
    secret."""
    page = os.sysconf("SC_PAGE_SIZE")
    runs, a = [], None
    with open("/proc/%d/pagemap" % pid, "rb", buffering=0) as pm:
        for off in range(start, end, 512 * page):
            n = min(512, (end - off) // page)
            raw = os.pread(pm.fileno(), 8 * n, off // page * 8)
            for i in range(len(raw) // 8):
                v = int.from_bytes(raw[8 * i:8 * i + 8], "little")
                addr = off + i * page
                if v >> 62 & 3:
                    if a is None:
                        a = addr
                elif a is not None:
                    runs.append((a, addr))
                    a = None
    if a is not None:
        runs.append((a, end))
    return runs


def find_all(pid, needles):
    """{needle: [(address, perms, vmflags)]} over the resident pages of
    every mapping that can hold data the process wrote (writable, or
    made unreadable by it)."""
    found = {n: [] for n in needles}
    keep = max(len(n) for n in needles) - 1
    with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
        for start, end, perms, flags in regions(pid):
            if "w" not in perms and perms != "---p":
                continue        # code and read-only data of files
            if perms == "---p" and "dd" not in flags:
                continue        # guard pages and reserved arena space
            for a, b in resident(pid, start, end):
                prev, off = b"", a
                while off < b:
                    n = min(1 << 20, b - off)
                    try:
                        chunk = os.pread(mem.fileno(), n, off)
                    except OSError:
                        break   # [vvar] and the like
                    buf = prev + chunk
                    for nd in needles:
                        i = buf.find(nd)
                        while i != -1:
                            found[nd].append((off - len(prev) + i, perms,
                                              " ".join(flags)))
                            i = buf.find(nd, i + 1)
                    prev = buf[-keep:]
                    off += n
    # A needle in the overlap kept from the last chunk is seen twice.
    return {nd: sorted(set(v)) for nd, v in found.items()}


srv = subprocess.Popen([CARIMBO, "serve", "-c", CONF, "--listen",
                        "127.0.0.1:0", "-v"], stdout=subprocess.PIPE,
                       stderr=open(LOG, "wb"), **as_user)
ctl = None
try:
    line = srv.stdout.readline().decode()
    m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
    if not m:
        raise SystemExit("server did not start: %r: %s" % (
            line, open(LOG).read()[-2000:]))
    port = int(m.group(1))
    deadline = time.monotonic() + 10
    while get(port, "/health")[0] != 200:
        if time.monotonic() > deadline:
            raise SystemExit("/health never said 200")
        time.sleep(0.1)
    bench("http://127.0.0.1:%d/" % port)
    bench("http://127.0.0.1:%d/ers" % port)
    s0 = seals(port)
    deadline = time.monotonic() + 10
    while seals(port) < s0 + 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    check(seals(port) >= s0 + 2, "the clock did not seal its log")
    pid = srv.pid

    # Not dumpable: root owns its /proc files; a dumpable process of the
    # same user (the control) owns its own.
    ctl = subprocess.Popen(["sleep", "60"], **as_user)
    status = open("/proc/%d/status" % pid).read()
    m = re.search(r"^Uid:\s+(\d+)", status, re.M)
    check(m is not None and int(m.group(1)) == UID,
          "the server does not run as uid %d" % UID)
    for f in ("status", "environ"):
        o = os.stat("/proc/%d/%s" % (ctl.pid, f)).st_uid
        check(o == UID, "control: /proc/PID/%s owned by uid %d, not %d" % (
            f, o, UID))
        o = os.stat("/proc/%d/%s" % (pid, f)).st_uid
        check(o == 0, "the server's /proc/PID/%s owned by uid %d, not "
              "root: dumpable" % (f, o))
    for f in ("environ", "mem"):
        check(user_opens("/proc/%d/%s" % (ctl.pid, f)),
              "control: its user cannot open /proc/PID/%s" % f)
        check(not user_opens("/proc/%d/%s" % (pid, f)),
              "a process of the server's user opens its /proc/PID/%s" % f)

    # Not on its command line, in its environment or in its log.
    for f in ("environ", "cmdline"):
        text = open("/proc/%d/%s" % (pid, f), "rb").read()
        check(len(text) > 0, "/proc/PID/%s empty: nothing checked" % f)
        check(PIN not in text, "the PIN is in /proc/PID/%s" % f)
        check(SEED_HEX not in text, "the seal key is in /proc/PID/%s" % f)

    # Its memory, as a core file or a debugger would see it; not under
    # AddressSanitizer, whose terabytes of shadow and own allocator are
    # not the production build's memory (make test judges that).
    found = {PIN: [], SEED: [], SEED_HEX: []}
    if ASAN:
        print("memory not read: %s is built with AddressSanitizer" %
              CARIMBO)
    else:
        found = find_all(pid, [PIN, SEED, SEED_HEX])
        check(len(found[SEED]) > 0, "the seal key not found in the "
              "server's memory: the check proves nothing")
    for a, perms, flags in found[PIN]:
        check(False, "the PIN is in the server's memory at %#x (%s, "
              "VmFlags %s)" % (a, perms, flags))
    for a, perms, flags in found[SEED] + found[SEED_HEX]:
        check("dd" in flags.split(), "a copy of the seal key at %#x is in "
              "pages a core dump keeps (VmFlags %s)" % (a, flags))
        check(perms == "---p", "a copy of the seal key at %#x is readable "
              "(%s) between seals" % (a, perms))
    print("in its memory: the seal key %d time%s, the PIN %d" % (
        len(found[SEED]), "" if len(found[SEED]) == 1 else "s",
        len(found[PIN])))

    srv.send_signal(signal.SIGTERM)
    check(srv.wait(timeout=30) == 0, "server exit status %s" % srv.returncode)
    log = open(LOG, "rb").read()
    check(b"serving: unit" in log, "no log read: nothing checked")
    check(PIN not in log, "the PIN is in the server's log")
    check(SEED_HEX not in log, "the seal key is in the server's log")
finally:
    if ctl is not None:
        ctl.kill()
        ctl.wait()
    if srv.poll() is None:
        srv.kill()
        srv.wait()
    subprocess.run(["rm", "-rf", TMP])

if failures:
    print("secrets.py: %d check(s) failed" % len(failures))
    sys.exit(1)
print("secrets.py: all checks passed")
