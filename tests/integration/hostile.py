#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# Hostile and careless clients beside a well-behaved one (issue "Under
# hostile clients...", doc/design.md "Bad input, faults and load").
#
# The real server on a loopback port; in each phase an attack runs while
# `carimbo bench` (8 connections, every answer checked) loads `/` and then
# `/ers`.  The well-behaved client must see no error in any phase; its
# p99 and the server's peak RSS per phase are printed (a table), and the
# RSS must stay under the bound the server states at start-up from its
# configuration.  The attacks:
#
#   idle        connections that send nothing
#   half        connections that send half a request head and stop
#   slowloris   heads sent a byte a second, and bodies trickled likewise
#   nonreader   connections that pipeline requests and never read
#   garbage     garbage, oversize heads and oversize bodies, in a flood
#   pipeliner   one connection pipelining thousands of requests
#   overlimit   connections past max_connections
#
# Each attack's own answers are judged too: 408 for a request that does
# not arrive within read_timeout, 400/431/413 for the bad ones, refusal
# past the limit (503 with Retry-After, or a close) with a log line.
#
# `python3 hostile.py` is the short run of `make test`; `--soak` (make
# soak) is the long one, with 10,000 idle and 10,000 half-head
# connections and longer phases.
import json
import os
import random
import re
import resource
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time

CARIMBO = os.environ.get("CARIMBO", "build/carimbo")
SOAK = "--soak" in sys.argv
TMP = tempfile.mkdtemp(prefix="carimbo-hostile-")
STATE = os.path.join(TMP, "state")
CONF = os.path.join(STATE, "carimbo.conf")

# Sizes of the two runs.
if SOAK:
    IDLE, HALF, SLOW, NONREAD, FLOOD, PIPE = 10000, 10000, 500, 1000, 3000, 20000
    PHASE_S, MAXCONN = 10, 12000
else:
    IDLE, HALF, SLOW, NONREAD, FLOOD, PIPE = 2000, 2000, 100, 200, 600, 3000
    PHASE_S, MAXCONN = 2, 5000
READ_TIMEOUT = 3
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("  FAIL:", what, flush=True)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


NOFILE = raise_nofile()
# A machine with a lower hard limit runs the same phases smaller; the
# server needs room beside max_connections for 64 refusals and its own
# descriptors (serve.c serve_limits()), or it caps max_connections.
if NOFILE < IDLE + 2000:
    IDLE = HALF = max(100, (NOFILE - 2000) // 2)
MAXCONN = min(MAXCONN, NOFILE - 400)

subprocess.run([CARIMBO, "init", "--demo", STATE], check=True,
               capture_output=True, timeout=120)
with open(CONF, "a") as f:
    f.write("\nmax_connections = %d\nidle_timeout = 120\n"
            "read_timeout = %d\n" % (MAXCONN, READ_TIMEOUT))
with open(os.path.join(TMP, "req.tsq"), "wb") as f:
    f.write(b"x")
subprocess.run(["openssl", "ts", "-query", "-data",
                os.path.join(TMP, "req.tsq"), "-sha256", "-cert", "-out",
                os.path.join(TMP, "q.tsq")], check=True, capture_output=True)
TSQ = open(os.path.join(TMP, "q.tsq"), "rb").read()
REQ = (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Type: "
       b"application/timestamp-query\r\nContent-Length: %d\r\n\r\n" %
       len(TSQ)) + TSQ

LOG = os.path.join(TMP, "server.log")
srv = subprocess.Popen([CARIMBO, "serve", "-c", CONF, "--listen",
                        "127.0.0.1:0"], stdout=subprocess.PIPE,
                       stderr=open(LOG, "wb"))
line = srv.stdout.readline().decode()
m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
if not m:
    raise SystemExit("server did not start: %r\n%s" % (
        line, open(LOG).read()[-2000:]))
PORT = int(m.group(1))
URL = "http://127.0.0.1:%d/" % PORT


def status_kb(field):
    with open("/proc/%d/status" % srv.pid) as f:
        for ln in f:
            if ln.startswith(field + ":"):
                return int(ln.split()[1])
    return 0


def reset_peak():
    with open("/proc/%d/clear_refs" % srv.pid, "w") as f:
        f.write("5")


def log_text():
    with open(LOG, errors="replace") as f:
        return f.read()


# The bound the server states at start-up (serve.c), in MiB.
time.sleep(0.2)
mb = re.search(r"memory: at most about ([\d,]+) MiB", log_text())
BOUND_MB = int(mb.group(1).replace(",", "")) if mb else None
check(BOUND_MB is not None, "the server states no memory bound at start-up")


def connect(n, sel=None):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", PORT))
        except BlockingIOError:
            pass
        socks.append(s)
    # Wait until every one is connected (writable).
    se = selectors.DefaultSelector()
    for s in socks:
        se.register(s, selectors.EVENT_WRITE)
    left, deadline = len(socks), time.time() + 30
    while left and time.time() < deadline:
        for key, _ in se.select(1):
            se.unregister(key.fileobj)
            left -= 1
    se.close()
    check(left == 0, "%d of %d connections did not connect" % (left, n))
    return socks


def http_get(path, timeout=5):
    s = socket.create_connection(("127.0.0.1", PORT), timeout=timeout)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" %
              path.encode())
    got = b""
    while True:
        try:
            c = s.recv(65536)
        except OSError:
            break
        if not c:
            break
        got += c
    s.close()
    return got


def bench(path, secs):
    js = os.path.join(TMP, "b.json")
    p = subprocess.run([CARIMBO, "bench", "--url", URL + path,
                        "--connections", "8", "--duration", str(secs),
                        "-c", CONF, "--quiet", "--json", js],
                       capture_output=True, timeout=secs + 60)
    try:
        with open(js) as f:
            j = json.load(f)
    except (OSError, ValueError):
        j = {"errors": -1, "latency_ms": {}, "requests_per_second": 0}
    j["rc"] = p.returncode
    j["stderr"] = p.stderr.decode(errors="replace")[-500:]
    return j


table = []


def phase(name, attack, judge=None):
    """Runs attack (a callable taking a stop Event) beside the bench."""
    print("phase %s" % name, flush=True)
    reset_peak()
    stop = threading.Event()
    state = {}
    t = threading.Thread(target=attack, args=(stop, state))
    t.start()
    while not state.get("ready") and t.is_alive():
        time.sleep(0.05)
    h = http_get("/health")
    check(h.startswith(b"HTTP/1.1 200"), "%s: /health beside it: %r" % (
        name, h[:60]))
    row = [name]
    for path in ("", "ers"):
        j = bench(path, PHASE_S)
        check(j["rc"] == 0 and j["errors"] == 0,
              "%s: bench /%s: exit %d, %s errors: %s" % (
                  name, path, j["rc"], j["errors"], j["stderr"]))
        row += [j.get("requests_per_second", 0),
                j.get("latency_ms", {}).get("p99", -1)]
    row.append(status_kb("VmHWM") // 1024)
    stop.set()
    t.join(120)
    check(not t.is_alive(), "%s: the attack did not stop" % name)
    if judge:
        judge(state)
    check(srv.poll() is None, "%s: the server died" % name)
    table.append(row)
    if BOUND_MB is not None:
        check(row[-1] <= BOUND_MB, "%s: peak RSS %d MiB over the bound %d"
              % (name, row[-1], BOUND_MB))


def close_all(socks):
    for s in socks:
        s.close()


def attack_idle(stop, st):
    socks = connect(IDLE)
    st["ready"] = True
    stop.wait()
    close_all(socks)


def read_answers(socks, secs):
    """What each socket received within secs (until EOF or error)."""
    got = {s: b"" for s in socks}
    se = selectors.DefaultSelector()
    for s in socks:
        se.register(s, selectors.EVENT_READ)
    open_ = len(socks)
    deadline = time.time() + secs
    while open_ and time.time() < deadline:
        for key, _ in se.select(0.5):
            s = key.fileobj
            try:
                c = s.recv(65536)
            except OSError:
                c = b""
            if c:
                got[s] += c
            else:
                se.unregister(s)
                open_ -= 1
    se.close()
    return got


def attack_half(stop, st):
    socks = connect(HALF)
    for s in socks:
        s.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Le")
    st["ready"] = True
    stop.wait()
    # read_timeout has passed long since: each got its 408 and a close.
    got = read_answers(socks, READ_TIMEOUT + 5)
    st["408"] = sum(1 for v in got.values()
                    if v.startswith(b"HTTP/1.1 408 "))
    st["n"] = len(socks)
    close_all(socks)


def judge_half(st):
    check(st.get("408") == st.get("n"), "half: %s of %s got 408" % (
        st.get("408"), st.get("n")))


def attack_slow(stop, st):
    heads = connect(SLOW)
    bodies = connect(SLOW)
    hb = REQ[:REQ.index(b"\r\n\r\n") + 4]
    for s in bodies:
        s.send(hb)
    pos = 0
    st["ready"] = True
    started = time.time()
    while not stop.is_set() and time.time() - started < READ_TIMEOUT + 2:
        for s in heads:
            try:
                s.send(REQ[pos:pos + 1])
            except OSError:
                pass
        for s in bodies:
            try:
                s.send(TSQ[pos:pos + 1])
            except OSError:
                pass
        pos += 1
        stop.wait(1)
    got = read_answers(heads + bodies, READ_TIMEOUT + 5)
    st["408"] = sum(1 for v in got.values()
                    if v.startswith(b"HTTP/1.1 408 "))
    st["n"] = len(heads) + len(bodies)
    stop.wait()
    close_all(heads + bodies)


def judge_slow(st):
    check(st.get("408") == st.get("n"), "slowloris: %s of %s got 408" % (
        st.get("408"), st.get("n")))


def signatures():
    t = http_get("/metrics")
    return sum(int(v) for v in re.findall(
        rb"^carimbo_signatures_total\{[^}]*\} (\d+)", t, re.M))


def attack_nonreader(stop, st):
    # They pipeline until their send sides fill: the server stops reading
    # one at max_pipeline unanswered requests, and its replies fill the
    # socket's send buffer (send_buffer).  From then on they cost nothing,
    # and the bench measures from then on: when the server's signature
    # count stands still while they are still trying to send.
    socks = connect(NONREAD)
    for s in socks:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    burst = REQ * 64
    started, last, since = time.time(), -1, time.time()
    st["sig0"] = signatures()
    while not stop.is_set():
        for s in socks:
            try:
                s.send(burst)
            except (BlockingIOError, OSError):
                pass
        if not st.get("ready") and time.time() - since >= 0.5:
            n = signatures()
            if n == last:
                st["fill_s"] = time.time() - started
                st["fill_sig"] = n
                st["ready"] = True
            last, since = n, time.time()
        stop.wait(0.1)
    close_all(socks)


def judge_nonreader(st):
    # What they cost: max_pipeline (32) replies each and what the send
    # buffers hold (128 KiB of 2-3 KiB replies, the kernel doubling 64
    # KiB) and their own 8 KiB receive buffers: about 90 each.  Without
    # the bounds: 1,024 each and megabytes of autotuned buffer, thousands.
    n = st.get("fill_sig", 0) - st.get("sig0", 0)
    print("  nonreader: send sides full after %.1f s, %d signatures for "
          "%d connections" % (st.get("fill_s", -1), n, NONREAD))
    check(0 < n <= NONREAD * 250, "nonreader: %d signatures for %d "
          "connections that read nothing" % (n, NONREAD))


def attack_garbage(stop, st):
    rnd = random.Random(15)
    junk = [rnd.randbytes(300) + b"\r\n\r\n" for _ in range(64)]
    kinds = {
        "garbage": lambda: rnd.choice(junk),
        "head": lambda: b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " +
        b"a" * 20000 + b"\r\n\r\n",
        "body": lambda: b"POST / HTTP/1.1\r\nHost: t\r\nContent-Type: "
        b"application/timestamp-query\r\nContent-Length: 99999999\r\n\r\n"
        + b"z" * 1000,
    }
    counts = {k: {} for k in kinds}
    st["ready"] = True
    rounds = 0
    while not stop.is_set() or rounds == 0:
        for k, make in kinds.items():
            socks = connect(FLOOD // 3)
            for s in socks:
                try:
                    s.send(make())
                except OSError:
                    pass
            for v in read_answers(socks, 10).values():
                code = v[9:12].decode(errors="replace") if v else "none"
                counts[k][code] = counts[k].get(code, 0) + 1
            close_all(socks)
        rounds += 1
    st["counts"] = counts


def judge_garbage(st):
    c = st.get("counts", {})
    for k, want in (("garbage", "400"), ("head", "431"), ("body", "413")):
        got = c.get(k, {})
        check(set(got) == {want}, "garbage: %s answered %s, want only %s"
              % (k, got, want))


def attack_pipeliner(stop, st):
    s = socket.create_connection(("127.0.0.1", PORT), timeout=30)
    st["ready"] = True
    total = PIPE
    wbuf = REQ * total
    done = threading.Event()

    def writer():
        try:
            s.sendall(wbuf)
        except OSError:
            pass

    def sampler():
        # Requests in rounds: the pipeliner's max_pipeline at most, and
        # the bench's 8.
        peak = 0
        while not done.is_set():
            peak = max(peak, metric(http_get("/metrics"), "carimbo_inflight")
                       or 0)
            done.wait(0.05)
        st["inflight"] = peak
    w = threading.Thread(target=writer)
    sm = threading.Thread(target=sampler)
    w.start()
    sm.start()
    # Read nothing for longer than read_timeout: what the server holds
    # back at max_pipeline is its own doing, not a slow client's (no 408).
    time.sleep(READ_TIMEOUT + 1)
    mark, got, answers = b"HTTP/1.1 200 ", b"", 0
    while answers < total:
        try:
            c = s.recv(1 << 20)
        except OSError:
            break
        if not c:
            break
        got += c
        i = got.rfind(mark)
        if i >= 0:
            answers += got.count(mark)
            got = got[i + 1:]
    done.set()
    w.join(60)
    sm.join(60)
    st["answers"] = answers
    stop.wait()
    s.close()


def judge_pipeliner(st):
    check(st.get("answers") == PIPE, "pipeliner: %s of %d answered" % (
        st.get("answers"), PIPE))
    check(0 < st.get("inflight", 0) <= 32 + 8 + 1, "pipeliner: up to %s "
          "requests in flight, want at most max_pipeline (32) + the "
          "bench's 8" % st.get("inflight"))


def metric(text, name):
    m = re.search(rb"^" + name.encode() + rb" (\d+)", text, re.M)
    return int(m.group(1)) if m else None


def attack_overlimit(stop, st):
    # Fill the limit exactly (the /metrics connection is the last one in
    # it), then go past it: each one past it gets a 503 with Retry-After.
    over = 50
    socks = connect(MAXCONN - 1)
    st["conns"] = metric(http_get("/metrics"), "carimbo_connections")
    time.sleep(1)
    socks += connect(1)
    extra = connect(over)
    for s in extra:
        try:
            s.send(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        except OSError:
            pass
    got = read_answers(extra, 10)
    st["503"] = sum(1 for v in got.values()
                    if v.startswith(b"HTTP/1.1 503 ") and
                    b"Retry-After: 1" in v)
    st["n"] = over
    close_all(extra)
    close_all(socks[:64])   # room for the bench and /health
    st["ready"] = True
    stop.wait()
    close_all(socks[64:])


def judge_overlimit(st):
    check(st.get("conns") == MAXCONN, "overlimit: %s connections at the "
          "limit, want %d" % (st.get("conns"), MAXCONN))
    check(st.get("503") == st.get("n"),
          "overlimit: %s of %s past the limit got 503" % (
              st.get("503"), st.get("n")))
    check(re.search(r"refused \d+ connections: max_connections \(%d\)"
                    % MAXCONN, log_text()) is not None,
          "overlimit: no refusal in the log")


def attack_none(stop, st):
    st["ready"] = True
    stop.wait()


try:
    phase("none", attack_none)
    phase("idle", attack_idle)
    phase("half", attack_half, judge_half)
    phase("slowloris", attack_slow, judge_slow)
    phase("nonreader", attack_nonreader, judge_nonreader)
    phase("garbage", attack_garbage, judge_garbage)
    phase("pipeliner", attack_pipeliner, judge_pipeliner)
    phase("overlimit", attack_overlimit, judge_overlimit)
finally:
    srv.terminate()
    try:
        srv.wait(30)
    except subprocess.TimeoutExpired:
        srv.kill()

p = subprocess.run([CARIMBO, "ledger", "verify", os.path.join(STATE, "ledger")],
                   capture_output=True, timeout=120)
check(p.returncode == 0, "ledger verify: %s" % p.stderr.decode()[-300:])

print("\n%-10s %9s %7s %9s %7s %9s" % ("phase", "/ req/s", "p99 ms",
                                        "/ers req/s", "p99 ms", "peak MiB"))
for r in table:
    print("%-10s %9.0f %7.2f %9.0f %7.2f %9d" % tuple(r))
print("memory bound stated by the server: %s MiB" % BOUND_MB)
if failures:
    print("%d failures; server log in %s" % (len(failures), LOG))
    sys.exit(1)
print("ok")
