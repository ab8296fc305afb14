#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# Crashes (doc/design.md "The ledger's promise", doc/ca.md "Crash
# safety"): kill -9 at random moments under mixed load, then prove that
# nothing was lost.  Each cycle starts the server (the clock sealing its
# audit log twice a second), runs `carimbo bench` on / and on /ers
# (bounded in time and rate, every right answer saved with --save), runs
# `carimbo ca issue` (keys generated on the token and from a CSR) and
# `carimbo ca revoke` in a loop beside it, and kills the server and the CA
# command in flight at one random moment.  After each restart:
#   - the server starts (the token opens, its key is there) and stops
#     cleanly; `carimbo ledger verify` passes;
#   - every reply the benches received is proven in the ledger (`ledger
#     prove --batch`), and so is every seal token of the clock's audit
#     log, which `carimbo clock audit` verifies;
#   - no serial number stands for two different TSTInfos across all cycles;
#   - the CA database passes integrity_check, every issue and revoke that
#     exited 0 is in it, every certificate verifies with openssl, the
#     published CRL parses and lists exactly the revoked ones;
#   - every key the database names is on the token (pkcs11-tool).
# Before the cycles, SoftHSM2's rewrite of token.object at C_Login is
# killed on purpose (strace fault injection, in `ca crl` and in a starting
# server): the file is left empty and the next start restores it
# (common/p11_token.c p11_softhsm_repair); a revoke is killed between its
# commit and its CRL file, and the next ca command publishes that CRL
# (ca/state.c ca_open); and the server, traced while it serves, never
# writes to the token after it listens.
#
#   crash_cycles.py [--cycles N] [--token-kills N] [--seed S]
# `make test` runs 3 cycles; `make soak` runs 50 and prints the totals.
import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve as S  # noqa: E402

MODULE = os.environ.get("CARIMBO_PKCS11_MODULE",
                        "/usr/lib/softhsm/libsofthsm2.so")
BASE_KEYS = {"root", "tsa-ca", "user-ca", "tsa"}
# The bench's error kinds a kill -9 causes: a connection reset, an answer
# that never came.
LOST = ("connection", "timeout")
TOTALS = {}


def add(key, n=1):
    TOTALS[key] = TOTALS.get(key, 0) + n


# --- DER, just enough to reach a token's serial number -----------------

def tlv(b, i):
    """(tag, start of content, end) of the TLV at b[i]."""
    s, e = S.tlv(b, i)
    return b[i], s, e


def children(b, s, e):
    out = []
    while s < e:
        t, cs, ce = tlv(b, s)
        out.append((t, cs, ce, s))
        s = ce
    return out


def inner(b, t):
    """The children of the content of child t."""
    return children(b, t[1], t[2])


def tstinfo_of_token(b, ci):
    """The TSTInfo (bytes) of the ContentInfo child ci (RFC 5652 5.1)."""
    sd = inner(b, inner(b, ci)[1])[0]           # [0] EXPLICIT SignedData
    eci = inner(b, sd)[2]                       # encapContentInfo
    os_ = inner(b, inner(b, eci)[1])[0]         # [0] EXPLICIT OCTET STRING
    return b[os_[1]:os_[2]]


def top(b):
    t, s, e = tlv(b, 0)
    return (t, s, e, 0)


def serial_of_tstinfo(t):
    _, s, e, _ = inner(t, top(t))[3]            # version, policy, imprint
    return int.from_bytes(t[s:e], "big")


def items(path):
    """The DER items of a --save file, as bytes."""
    b = open(path, "rb").read() if os.path.exists(path) else b""
    out, i = [], 0
    while i < len(b):
        _, _, e = tlv(b, i)
        out.append(b[i:e])
        i = e
    return out


def tstinfo_from_resp(r):
    """The TSTInfo of a granted TimeStampResp (RFC 3161 2.4.2) or of a
    bare token."""
    f = inner(r, top(r))
    return tstinfo_of_token(r, top(r) if f[0][0] == 0x06 else f[1])


def token_tstinfos(path):
    return [tstinfo_from_resp(r) for r in items(path)]


def er_tstinfos(path):
    """TSTInfos of the round tokens of the EvidenceRecords in path
    (RFC 4998 3: the last ArchiveTimeStamp field is the ContentInfo)."""
    out = []
    for r in items(path):
        seqs = [x for x in inner(r, top(r)) if x[0] == 0x30]
        ats = inner(r, inner(r, seqs[-1])[0])[0]
        out.append(tstinfo_of_token(r, inner(r, ats)[-1]))
    return out


def seal_tokens(clockdir):
    """Every seal's TimeStampResp of the audit log (ntp/README.md)."""
    out = []
    for name in sorted(os.listdir(clockdir)):
        if not name.endswith(".log"):
            continue
        b = open(os.path.join(clockdir, name), "rb").read()
        i = 0
        while i + 28 <= len(b) and b[i:i + 4] == b"CLK1":
            n = int.from_bytes(b[i + 8:i + 12], "big")
            if i + 28 + n + 32 > len(b):
                break
            if b[i + 4] == 6:
                p = b[i + 28:i + 28 + n]
                tl = int.from_bytes(p[104:108], "big")
                if tl > 0:
                    out.append(p[108:108 + tl])
            i += 28 + n + 32
    return out


# --- the token ---------------------------------------------------------

def token_dir(state):
    d = os.path.join(state, "tokens")
    return os.path.join(d, os.listdir(d)[0])


def token_keys(state):
    """Labels of the private keys on the token, or None if it is gone."""
    env = dict(os.environ, SOFTHSM2_CONF=os.path.join(state,
                                                      "softhsm2.conf"))
    pin = open(os.path.join(state, "pin")).read().strip()
    p = subprocess.run(["pkcs11-tool", "--module", MODULE, "--token-label",
                        "carimbo", "--login", "--pin", pin, "--list-objects",
                        "--type", "privkey"], capture_output=True,
                       text=True, env=env)
    if p.returncode != 0:
        return None
    return set(re.findall(r"label:\s+(\S+)", p.stdout))


def inject_kill(cmd, tokobj):
    """Runs cmd with SIGKILL injected at its first write to tokobj."""
    return subprocess.run(["strace", "-f", "-o", "/dev/null", "-P", tokobj,
                           "-e", "trace=write", "-e",
                           "inject=write:signal=KILL"] + cmd,
                          capture_output=True, text=True)


def torn_token(state, conf):
    """A kill between SoftHSM2's ftruncate and write of token.object."""
    print("kill -9 inside SoftHSM2's rewrite of token.object: restored")
    tokobj = os.path.join(token_dir(state), "token.object")
    copy = tokobj + ".copy"
    S.check(os.path.getsize(copy) == os.path.getsize(tokobj) > 0,
            "init kept a copy of token.object")
    crl = S.path("torn.crl")
    for what, cmd in (("ca crl", [S.CARIMBO, "ca", "crl", "-c", conf,
                                  "--issuer", "user", "--out", crl]),
                      ("serve", [S.CARIMBO, "serve", "-c", conf,
                                 "--listen", "127.0.0.1:0"])):
        p = inject_kill(cmd, tokobj)
        S.check(os.path.getsize(tokobj) == 0, "%s killed at its write of "
                "token.object left it empty (strace: %s)" % (
                    what, p.stderr[-300:]))
        S.check(token_keys(state) is None, "with token.object empty the "
                "token is gone (pkcs11-tool finds no token)")
        p = subprocess.run([S.CARIMBO, "ca", "crl", "-c", conf, "--issuer",
                            "user", "--out", crl], capture_output=True,
                           text=True)
        S.check(p.returncode == 0 and "restored from token.object.copy" in
                p.stderr, "after the kill in %s, ca crl restores "
                "token.object and signs: %s" % (what, p.stderr[-400:]))
        # The CAs' keys and those the database names (the demo's OCSP
        # responders'): the copy restores every one.
        S.check(token_keys(state) == BASE_KEYS | set(ca_key_labels(state)),
                "every key is back: %s" % token_keys(state))
    # A write cut short (a power cut after part of the data reached the
    # disk): the file ends inside a record.
    whole = open(copy, "rb").read()
    open(tokobj, "wb").write(whole[:100])
    p = subprocess.run([S.CARIMBO, "ca", "crl", "-c", conf, "--issuer",
                        "user", "--out", crl], capture_output=True,
                       text=True)
    S.check(p.returncode == 0 and "was torn (100 bytes" in p.stderr and
            open(tokobj, "rb").read()[8:] == whole[8:],
            "a token.object cut inside a record is restored: %s" %
            p.stderr[-300:])


def crl_listed(state):
    p = S.run("openssl", "crl", "-inform", "DER", "-in", os.path.join(
        state, "ca", "pub", "crl", "user.crl"), "-noout", "-text", ok=False)
    S.check(p.returncode == 0, "openssl crl parses the published CRL")
    return set(s.upper().lstrip("0") for s in re.findall(
        r"Serial Number: ([0-9A-Fa-f]+)", p.stdout.decode()))


def lagging_crl(state, conf, csr):
    """A revoke killed between its commit and its CRL file: the next ca
    command publishes the CRL the database holds."""
    print("kill -9 between a revocation's commit and its CRL file")
    sn = S.run(S.CARIMBO, "ca", "issue", "-c", conf, "--profile",
               "normalised", "--csr", csr, "--out", S.path("lag.pem")
               ).stdout.decode().strip()
    crl = os.path.join(state, "ca", "pub", "crl", "user.crl")
    # -P matches rename(2) by its first path, file_write_atomic's temporary.
    p = subprocess.run(["strace", "-f", "-o", "/dev/null", "-P",
                        crl + ".tmp", "-e", "trace=rename", "-e",
                        "inject=rename:signal=KILL", S.CARIMBO, "ca", "revoke", "-c", conf, sn,
                        "--reason", "keyCompromise"], capture_output=True)
    S.check(p.returncode != 0 and sn.lstrip("0") not in crl_listed(state),
            "revoke killed at its rename of user.crl: committed, not "
            "published")
    S.run(S.CARIMBO, "ca", "list", "-c", conf)
    S.check(sn.lstrip("0") in crl_listed(state), "the next ca command "
            "publishes the CRL with %s" % sn)


def writes_while_serving(conf, state):
    """The server writes to its token only before it listens."""
    print("the serving server never writes to the token")
    tokobj = os.path.join(token_dir(state), "token.object")
    trace = S.path("serve.strace")
    err = open(S.path("server.log"), "ab")
    # LeakSanitizer cannot run under ptrace (make test SAN=1).
    env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") +
               ":detect_leaks=0")
    p = subprocess.Popen(["strace", "-f", "-ttt", "-o", trace, "-e",
                          "trace=openat,ftruncate,write,pwrite64,rename,"
                          "unlink", S.CARIMBO, "serve", "-c", conf,
                          "--listen", "127.0.0.1:0"],
                         stdout=subprocess.PIPE, stderr=err, env=env)
    line = p.stdout.readline().decode()
    m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
    S.check(m is not None, "serve under strace: %r" % line)
    if m:
        port = int(m.group(1))
        b = subprocess.run([S.CARIMBO, "bench", "--url",
                            "http://127.0.0.1:%d/" % port, "--connections",
                            "2", "--requests", "200", "--quiet"],
                           capture_output=True, text=True)
        S.check(b.returncode == 0, "bench under strace: %s" % b.stderr)
    # strace keeps SIGTERM from its tracee: the server is its child.
    kids = open("/proc/%d/task/%d/children" % (p.pid, p.pid)).read().split()
    for k in kids:
        os.kill(int(k), signal.SIGTERM)
    S.check(p.wait(timeout=30) == 0 and len(kids) == 1,
            "the traced server stops on SIGTERM, exit 0")
    err.close()
    tdir = token_dir(state)
    listened, late = None, []
    for ln in open(trace):
        if "listening on" in ln:
            listened = True
        elif listened and tdir in ln and (
                "O_WRONLY" in ln or "O_RDWR" in ln or "O_TRUNC" in ln or
                "rename" in ln or "unlink" in ln):
            late.append(ln.strip())
    S.check(listened, "the trace shows the server listening")
    S.check(not late, "no write to the token after listening: %s" %
            late[:3])
    S.check(os.path.getsize(tokobj) > 0, "token.object whole")


def token_kills(state, conf, n):
    """ca commands (each logs in: token.object rewritten) killed at
    random moments; the next command restores what a kill emptied."""
    if n == 0:
        return
    print("%d ca crl commands killed at random moments" % n)
    tokobj = os.path.join(token_dir(state), "token.object")
    for i in range(n):
        subprocess.run(["timeout", "-s", "KILL",
                        "%.3f" % random.uniform(0.005, 0.12), S.CARIMBO,
                        "ca", "crl", "-c", conf, "--issuer", "user",
                        "--out", S.path("k.crl")], capture_output=True)
        add("token kills")
        if os.path.getsize(tokobj) == 0:
            add("token.object emptied by a kill")
            p = subprocess.run([S.CARIMBO, "ca", "crl", "-c", conf,
                                "--issuer", "user", "--out",
                                S.path("k.crl")], capture_output=True,
                               text=True)
            S.check(p.returncode == 0 and "restored" in p.stderr,
                    "a token.object emptied by a random kill is "
                    "restored: %s" % p.stderr[-300:])
    S.check(token_keys(state) == BASE_KEYS | set(
        k for k in ca_key_labels(state)), "every key still on the token")


# --- the CA ------------------------------------------------------------

def ca_key_labels(state):
    h = sqlite3.connect(os.path.join(state, "ca", "ca.db"))
    rows = [r[0] for r in h.execute(
        "SELECT key_label FROM cert WHERE key_label != ''")]
    h.close()
    return rows


class CaLoop(threading.Thread):
    """carimbo ca issue / revoke, one after another, until stopped; the
    command in flight can be killed."""

    def __init__(self, conf, csr, issued, cycle):
        super().__init__()
        self.conf, self.csr, self.issued = conf, csr, issued
        self.cycle = cycle
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.proc = None
        self.done = []          # (kind, serial) that exited 0

    def run_one(self, args):
        with self.lock:
            if self.stop.is_set():
                return None
            self.proc = subprocess.Popen([S.CARIMBO, "ca"] + args,
                                         stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True)
        out, err = self.proc.communicate()
        rc = self.proc.returncode
        with self.lock:
            self.proc = None
        if rc not in (0, -9):
            S.check(False, "ca %s: exit %d: %s" % (args[0], rc, err[-300:]))
        return out if rc == 0 else None

    def run(self):
        k = 0
        while not self.stop.is_set():
            k += 1
            pem = S.path("c%d-%d.pem" % (self.cycle, k))
            if k % 3 == 0 and self.issued:
                sn = self.issued.pop(random.randrange(len(self.issued)))
                if self.run_one(["revoke", "-c", self.conf, sn, "--reason",
                                 "keyCompromise"]) is not None:
                    self.done.append(("revoke", sn))
                continue
            args = ["issue", "-c", self.conf, "--profile", "normalised",
                    "--out", pem]
            if k % 3 == 1:
                args += ["--keygen-on-token", "--subject",
                         "/C=PT/CN=crash %d %d" % (self.cycle, k)]
            else:
                args += ["--csr", self.csr]
            out = self.run_one(args)
            if out is not None:
                self.done.append(("issue", out.strip()))
                self.issued.append(out.strip())

    def kill(self):
        with self.lock:
            self.stop.set()
            if self.proc is not None:
                self.proc.kill()
                add("ca commands killed")


def check_ca(state, done, revoked_all):
    db = os.path.join(state, "ca", "ca.db")
    h = sqlite3.connect(db)
    S.check(h.execute("PRAGMA integrity_check").fetchone()[0] == "ok",
            "CA database integrity_check")
    rows = {r[0]: r for r in h.execute(
        "SELECT serial, issuer, der, revoked_at, key_label FROM cert")}
    h.close()
    for kind, sn in done:
        S.check(sn in rows, "ca %s %s exited 0 and is in the database" % (
            kind, sn))
        if kind == "revoke":
            revoked_all.add(sn)
            S.check(sn in rows and rows[sn][3] is not None,
                    "revocation of %s is in the database" % sn)
    user = [r for r in rows.values() if r[1] == "user"]
    files = []
    for i, r in enumerate(user):
        f = S.path("db%d.der" % i)
        open(f, "wb").write(r[2])
        pem = S.path("db%d.pem" % i)
        S.run("openssl", "x509", "-inform", "DER", "-in", f, "-out", pem)
        files.append(pem)
    chain = S.path("user-chain.pem")
    S.run(S.CARIMBO, "ca", "export-chain", "-c", os.path.join(
        state, "carimbo.conf"), "--issuer", "user", "--out", chain)
    if files:
        p = S.run("openssl", "verify", "-CAfile", os.path.join(
            state, "root.pem"), "-untrusted", chain, *files, ok=False)
        oks = p.stdout.decode().count(": OK")
        S.check(oks == len(files), "openssl verify: %d of %d certificates "
                "OK: %s" % (oks, len(files), p.stderr.decode()[-300:]))
    # export-chain above, like any ca command, brought the publication
    # level with the database (ca_open).
    listed = crl_listed(state)
    revoked = set(sn.lstrip("0") for sn, r in rows.items() if r[1] ==
                  "user" and r[3] is not None)
    S.check(listed == revoked,
            "the CRL lists exactly the %d revoked certificates (%d listed)"
            % (len(revoked), len(listed)))
    keys = token_keys(state)
    S.check(keys is not None, "the token opens (pkcs11-tool)")
    if keys is not None:
        want = BASE_KEYS | set(r[4] for r in rows.values() if r[4])
        S.check(want <= keys, "every key is on the token; missing: %s" %
                sorted(want - keys))
        TOTALS["keys on the token no certificate names (a kill between "
               "keygen and commit)"] = len(keys - want)
    return rows


# --- one cycle ---------------------------------------------------------

def bench(port, target, conf, secs, rate, save, js):
    return subprocess.Popen([S.CARIMBO, "bench", "--url",
                             "http://127.0.0.1:%d%s" % (port, target),
                             "-c", conf, "--connections", "4",
                             "--pipeline", "2", "--duration", "%.2f" % secs,
                             "--rate", str(rate), "--save", save,
                             "--json", js, "--quiet"],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def prove(led, state, flag, f):
    p = S.run(S.CARIMBO, "ledger", "prove", led, "--batch", flag, f,
              "--ca", os.path.join(state, "root.pem"), "--untrusted",
              os.path.join(state, "tsa-chain.pem"), ok=False)
    out = p.stdout.decode()
    m = re.search(r"(\d+) of (\d+) (tokens|evidence records) in the "
                  r"ledger, 0 not, 0 unusable", out)
    S.check(p.returncode == 0 and m is not None, "ledger prove --batch %s "
            "%s: %s" % (flag, os.path.basename(f), out[-400:]))
    return int(m.group(1)) if m else 0


def cycle(n, conf, state, led, csr, issued, serials, revoked_all):
    delay = random.uniform(0.4, 1.6)
    srv = S.Server(conf)
    tok, ers = S.path("tok%d.der" % n), S.path("ers%d.der" % n)
    jt, je = S.path("tok%d.json" % n), S.path("ers%d.json" % n)
    b1 = bench(srv.port, "/", conf, delay + 0.5, 300, tok, jt)
    b2 = bench(srv.port, "/ers", conf, delay + 0.5, 600, ers, je)
    ca = CaLoop(conf, csr, issued, n)
    ca.start()
    # The moment counts from the first answers (a loaded machine, or the
    # sanitizers, can take longer than delay to start a bench).
    t = time.time() + 20
    while time.time() < t and not all(os.path.exists(f) and
                                      os.path.getsize(f) > 0
                                      for f in (tok, ers)):
        time.sleep(0.01)
    time.sleep(delay)
    srv.p.kill()
    ca.kill()
    srv.p.wait()
    srv.err.close()
    add("server kills")
    ca.join(timeout=30)
    for b in (b1, b2):
        b.wait(timeout=60)
    for js, what in ((jt, "/"), (je, "/ers")):
        S.check(os.path.exists(js), "cycle %d: bench %s reported" % (n, what))
        if not os.path.exists(js):
            continue
        r = json.load(open(js))["result"]
        errs = r["errors_by_kind"]
        lost = sum(v for k, v in errs.items() if k in LOST)
        other = {k: v for k, v in errs.items() if v and k not in LOST}
        S.check(not other, "cycle %d: %s: no error but connections lost "
                "to the kill: %s" % (n, what, other))
        add("requests sent " + what, r["sent"])
        add("requests answered " + what, r["sent"] - lost)
        add("granted " + what, r["ok"])
        S.check(r["ok"] > 0, "cycle %d: %s answered before the kill" % (
            n, what))
    print("cycle %d: kill -9 after %.2f s; / %d granted, /ers %d, ca %d "
          "done" % (n, delay, len(items(tok)), len(items(ers)),
                    len(ca.done)))
    pos = os.path.getsize(S.path("server.log"))
    srv = S.Server(conf)               # the torn tails are cut here
    st, _, _ = S.exchange(srv.port, S.http_msg(method="GET",
                                               target="/health", ctype=None))
    S.check(st == 200, "cycle %d: /health after the restart" % n)
    S.check(srv.stop() == 0, "cycle %d: restart and exit 0" % n)
    log = open(S.path("server.log"), errors="replace").read()[pos:]
    add("token.object restored at a restart", log.count("restored from"))
    p = S.run(S.CARIMBO, "ledger", "verify", led, ok=False)
    S.check(p.returncode == 0, "cycle %d: ledger verify: %s" % (
        n, p.stdout.decode()[-300:]))
    add("tokens proven", prove(led, state, "--token", tok))
    add("evidence records proven", prove(led, state, "--er", ers))
    seals = seal_tokens(os.path.join(state, "clock"))
    sf = S.path("seals.der")
    open(sf, "wb").write(b"".join(seals))
    TOTALS["seal tokens proven"] = prove(led, state, "--token", sf)
    p = S.run(S.CARIMBO, "clock", "audit", os.path.join(state, "clock"),
              "--pubkey", os.path.join(state, "clock-seal.pub"), "--ca",
              os.path.join(state, "root.pem"), ok=False)
    S.check(p.returncode == 0, "cycle %d: clock audit: %s" % (
        n, (p.stdout + p.stderr).decode()[-400:]))
    tsts = token_tstinfos(tok) + er_tstinfos(ers)
    for t in tsts + [tstinfo_from_resp(t) for t in seals]:
        sn, h = serial_of_tstinfo(t), hashlib.sha256(t).digest()
        if serials.setdefault(sn, h) != h:
            S.check(False, "serial %x stands for two TSTInfos" % sn)
    rows = check_ca(state, ca.done, revoked_all)
    for kind, _ in ca.done:
        add("ca %s completed" % kind)
    TOTALS["certificates in the CA database"] = len(rows)
    # init's four, those whose command exited 0, and those committed by
    # a command killed before it could say so.
    TOTALS["certificates committed by a killed ca issue"] = len(rows) - len(
        BASE_KEYS) - TOTALS.get("ca issue completed", 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=3)
    ap.add_argument("--token-kills", type=int, default=10)
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else int(time.time())
    random.seed(seed)
    for tool in ("strace", "pkcs11-tool", "openssl", "timeout"):
        if shutil.which(tool) is None:
            print("FAIL: %s is missing (make deps)" % tool)
            sys.exit(1)
    t0 = time.time()
    print("seed %d" % seed)
    S.run(S.CARIMBO, "init", "--demo", S.STATE)
    state = S.STATE
    led = os.path.join(state, "ledger", "carimbo.ledger")
    conf = S.write_conf("clock_poll_ms = 250\nclock_seal_interval_ms = 500\n"
                        "anchor_seconds = 1")
    torn_token(state, os.path.join(state, "carimbo.conf"))
    writes_while_serving(conf, state)
    token_kills(state, conf, a.token_kills)
    csr = S.path("crash.csr")
    S.run("openssl", "req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
          "ec_paramgen_curve:P-256", "-keyout", S.path("crash.key"),
          "-subj", "/C=PT/CN=crash", "-out", csr)
    lagging_crl(state, conf, csr)
    add("ca issue completed")
    issued, serials, revoked = [], {}, set()
    for n in range(a.cycles):
        cycle(n, conf, state, led, csr, issued, serials, revoked)
        if S.failures:
            break
    TOTALS["distinct serials"] = len(serials)
    print("totals after %d cycles (%.0f s, seed %d):" % (
        a.cycles, time.time() - t0, seed))
    for k in sorted(TOTALS):
        print("  %-48s %d" % (k, TOTALS[k]))
    print("%d checks, %d failed" % (S.checks, len(S.failures)))
    if S.failures:
        print("server log:\n" + open(S.path("server.log"),
                                     errors="replace").read()[-3000:])
        sys.exit(1)
    subprocess.run(["rm", "-rf", S.TMP])


if __name__ == "__main__":
    main()
