#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# `make bench`: the standard comparison of doc/design.md "Performance
# contract", every figure from `carimbo bench` in one sitting on this
# machine.  Makes a demo state, starts `carimbo serve` on a loopback port,
# runs the raw signing ceiling (1 and 2 threads), the bare HTTP ceiling
# (trivial responder, the size of an /ers answer, with and without
# pipelining), `/` at 1 and 64 connections, and `/ers` at 1, 64 and 512
# connections with and without pipelining (skipped, with a note, while the
# server answers 404 on /ers; the ceiling with the same load runs just
# before and just after each, and the ratio takes their mean; without
# pipelining, the ceiling whose answers wait for a durable block write
# also runs, the floor the ledger's contract sets on this disk; at 1
# connection the same with one signature beside each write as well, the
# floor of a server that must sign once per round), then
# prints one table with the ratios, the
# server's CPU time per answer and its peak RSS; when wrk is installed,
# the same comparisons with wrk as the client (bench/wrk-compare.sh).
# Every run's JSON (and SVG) stays in --out.
#
#   python3 bench/suite.py --carimbo build/carimbo --out build/bench-run
#       [--seconds S] [--workers N]
import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

PIPELINE = 16


def log(*a):
    print(*a, flush=True)


def exchange(port, request):
    """One request on a fresh connection (Connection: close): the bytes
    that came back."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(request)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return data


def post(port, path, body):
    """One POST: (status, body bytes)."""
    data = exchange(port, b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: application/timestamp-query\r\n"
                    b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (
                        path.encode(), len(body)) + body)
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    return status, rest[:int(m.group(1))] if m else rest


def metrics(port):
    """GET /metrics: {name{labels}: number} (int, or float for the
    samples written with a decimal point, such as a histogram's _sum)."""
    data = exchange(port, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Connection: close\r\n\r\n")
    return {k: float(v) if "." in v else int(v) for k, v in re.findall(
        r"^(carimbo_[a-z_]+(?:\{[^}]*\})?) (\d+(?:\.\d+)?)$",
        data.partition(b"\r\n\r\n")[2].decode(), re.M)}


SIG = 'carimbo_signatures_total{kind="%s"}'


def signing(m0, m1):
    """What a run cost at the key, from /metrics before and after."""
    d = {k: m1.get(k, 0) - m0.get(k, 0) for k in m1}
    kinds = ("token", "round", "anchor", "stamp")
    return {"requests": d.get("carimbo_evidence_records_total", 0),
            "rounds": d.get("carimbo_rounds_total", 0),
            "round_tokens": d.get("carimbo_round_tokens_total", 0),
            "anchors": d.get("carimbo_anchors_total", 0),
            # The clock audit log's own tokens (ntp/README.md), at its
            # seal times: not the round's, but they fall inside a run.
            "stamps": d.get(SIG % "stamp", 0),
            "signatures": sum(d.get(SIG % k, 0) for k in kinds),
            "signatures_by_kind": {k: d.get(SIG % k, 0) for k in kinds},
            "ledger_syncs": d.get("carimbo_ledger_syncs_total", 0),
            # The mean time of a ledger write over the run (submission
            # to durable): the wait that bounds the unpipelined rate.
            "ledger_write_ms": 1e3 * d.get(
                "carimbo_ledger_write_seconds_sum", 0) / max(d.get(
                    "carimbo_ledger_write_seconds_count", 0), 1)}


def timing(m0, m1):
    """Where a round's time went over a run, from /metrics: means in ms
    of the ledger write (submission to durable), one signature, and a
    round's close to its last reply released."""
    d = {k: m1.get(k, 0) - m0.get(k, 0) for k in m1}

    def mean(name):
        n = d.get(name + "_count", 0)
        return 1e3 * d.get(name + "_sum", 0) / n if n else None
    return {"rounds": d.get("carimbo_rounds_total", 0),
            "requests": d.get("carimbo_round_requests_sum", 0),
            "write_ms": mean("carimbo_ledger_write_seconds"),
            "sign_ms": mean("carimbo_signing_seconds"),
            "close_to_release_ms": mean("carimbo_round_latency_seconds"),
            "turn_ms": mean("carimbo_loop_turn_seconds")}


def key_use_ok(g):
    """An /ers run signed one token per tree, the anchors and the clock
    audit log's stamps, nothing else."""
    return g["signatures"] == g["round_tokens"] + g["anchors"] + g["stamps"]


def tsq(tmp):
    """A DER TimeStampReq with certReq, as the corpus makes by default."""
    out = os.path.join(tmp, "probe.tsq")
    subprocess.run(["openssl", "ts", "-query", "-digest", "ab" * 32,
                    "-sha256", "-cert", "-out", out], check=True,
                   capture_output=True)
    with open(out, "rb") as f:
        return f.read()


def cpu_s(pid):
    """utime + stime of every thread of pid, in seconds (/proc, 1/HZ);
    None once the process is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm_hwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class Suite:
    def __init__(self, a):
        self.a = a
        self.rows = []          # (key, name, json or None, note)
        self.results = {}

    def run(self, key, name, args, svg=False, srv=None):
        """One `carimbo bench` run.  srv: the server's pid, whose CPU time
        over the run is put in the JSON as server_cpu_s (a ceiling run
        reports its responder's own)."""
        js = os.path.join(self.a.out, key + ".json")
        c0 = cpu_s(srv) if srv else None
        cmd = [self.a.carimbo, "bench", *args, "--json", js]
        if "--hsm" not in args:
            cmd += ["--quiet"]
            if svg:
                cmd += ["--svg", os.path.join(self.a.out, key + ".svg")]
        log("  %-34s %s" % (name, " ".join(args)))
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            p = subprocess.run(cmd, capture_output=True,
                               timeout=self.a.seconds * 4 + 60)
        except subprocess.TimeoutExpired:
            self.rows.append((key, name, None, "timed out"))
            return None
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        j = None
        try:
            with open(js) as f:
                j = json.load(f)
        except (OSError, ValueError):
            pass
        c1 = cpu_s(srv) if srv else None
        if j is not None:
            # The client's own CPU time (the bench process, all threads;
            # for a ceiling run, its responder thread's too).
            j["client_cpu_s"] = (ru1.ru_utime - ru0.ru_utime +
                                 ru1.ru_stime - ru0.ru_stime)
            if c0 is not None and c1 is not None:
                j["server_cpu_s"] = c1 - c0
            with open(js, "w") as f:
                json.dump(j, f)
        note = ""
        if p.returncode != 0:
            err = p.stderr.decode(errors="replace").strip().splitlines()
            note = "exit %d%s" % (p.returncode, ": " + err[-1] if err else "")
        self.rows.append((key, name, j, note))
        self.results[key] = j
        return j


def cpu_us(j):
    """The server's CPU time per answered request, in microseconds."""
    if j is None or "server_cpu_s" not in j:
        return None
    ok = j.get("result", {}).get("ok", 0)
    return j["server_cpu_s"] * 1e6 / ok if ok else None


def cli_us(j):
    """The client's CPU time per answered request, in microseconds; for
    a ceiling run, client and trivial responder together."""
    if j is None or "client_cpu_s" not in j:
        return None
    ok = j.get("result", {}).get("ok", 0)
    return j["client_cpu_s"] * 1e6 / ok if ok else None


def rate(j):
    if j is None:
        return None
    return j.get("signatures_per_second", j.get("requests_per_second"))


def stop(srv):
    srv.send_signal(signal.SIGTERM)
    try:
        srv.wait(timeout=20)
    except subprocess.TimeoutExpired:
        srv.kill()
        srv.wait()


def start(a, state, conf, workers, logname):
    """carimbo serve on the demo state with that many signing workers, on
    a loopback port: (process, port)."""
    bconf = os.path.join(state, "bench-w%d.conf" % workers)
    with open(conf) as f, open(bconf, "w") as g:
        g.write(f.read() + "\n# make bench\nworkers = %d\n" % workers)
    srv = subprocess.Popen([a.carimbo, "serve", "-c", bconf, "--listen",
                            "127.0.0.1:0"], stdout=subprocess.PIPE,
                           stderr=open(os.path.join(a.out, logname), "wb"))
    line = srv.stdout.readline().decode()
    m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
    if not m:
        stop(srv)
        sys.exit("make bench: the server did not start: %r (see %s)" % (
            line, os.path.join(a.out, logname)))
    return srv, int(m.group(1))


WRK_RUNS = ((64, 1), (64, PIPELINE), (512, 1), (512, PIPELINE))


def wrk_runs(a, state):
    """bench/wrk-compare.sh for each of WRK_RUNS: its output lines, or a
    note when wrk is not installed."""
    if shutil.which("wrk") is None:
        return ["(wrk is not installed: apt-get install wrk for the same "
                "comparisons with wrk as the client)"]
    here = os.path.dirname(os.path.abspath(__file__))
    out = []
    for conns, depth in WRK_RUNS:
        log("  wrk %d conns x%d" % (conns, depth))
        p = subprocess.run([os.path.join(here, "wrk-compare.sh"), state,
                            str(conns), "%g" % a.seconds, str(depth)],
                           capture_output=True, timeout=a.seconds * 4 + 60,
                           env=dict(os.environ, CARIMBO=a.carimbo,
                                    WORKERS=str(a.workers)))
        lines = p.stdout.decode(errors="replace").strip().splitlines()
        if p.returncode != 0:
            lines.append("wrk-compare.sh exit %d: %s" % (
                p.returncode, p.stderr.decode(errors="replace").strip()))
        out += lines + [""]
    return out


def target_table(r, ceil_rate, inflight_kib, live):
    """The issue's targets, each (name, measured, goal, met or None)."""
    t = []

    def ratio(name, a, b, goal):
        v = rate(a) / b if rate(a) and b else None
        t.append((name, v, ">= %g" % goal, None if v is None else
                  v >= goal))

    def most(name, v, goal):
        t.append((name, v, "<= %g" % goal, None if v is None else
                  v <= goal))
    hsm = [rate(r.get(k)) for k in ("hsm1a", "hsm1b") if rate(r.get(k))]
    hsm = sum(hsm) / len(hsm) if hsm else None
    ratio("1. / 64 conns, 1 worker : raw signing, 1 thread",
          r.get("w1std64"), hsm, 0.85)
    ratio("1. / 64 conns, 1 worker : raw signing, HTTP at its rate beside",
          r.get("w1std64"), rate(r.get("hsm1c")), 0.85)
    cu = cpu_us(r.get("w1std64"))
    most("1. server CPU per / token outside its signature, us",
         cu - 1e6 / hsm if cu and hsm else None, 15)
    ratio("2. / 1 conn : durable ceiling, 1 conn", r.get("std1"),
          rate(r.get("dur1")), 0.9)
    ratio("2. /ers 1 conn : durable ceiling, 1 conn", r.get("ers1"),
          rate(r.get("dur1")), 0.9)
    # The floor of a server that must sign once per round, beside its
    # ledger write (bench --ceiling --durable --sign).
    ratio("2. / 1 conn : durable ceiling that signs, 1 conn",
          r.get("std1"), rate(r.get("dur1s")), 0.9)
    ratio("2. /ers 1 conn : durable ceiling that signs, 1 conn",
          r.get("ers1"), rate(r.get("dur1s")), 0.9)
    ratio("3. /ers 64 conns : durable ceiling, 64 conns", r.get("ers64"),
          rate(r.get("dur64")), 0.9)
    ratio("3. /ers 512 conns : HTTP ceiling, 512 conns", r.get("ers512"),
          ceil_rate("ceil512"), 0.8)
    ratio("4. /ers 64 conns x%d : HTTP ceiling, same" % PIPELINE,
          r.get("ers64p"), ceil_rate("ceil64p"), 0.5)
    most("4. server CPU per /ers answer, 64 conns x%d, us" % PIPELINE,
         cpu_us(r.get("ers64p")), 4)
    # What bounds that ratio on two cores: the client's CPU per answer,
    # which checks every /ers answer and nothing of the ceiling's.
    cc = cli_us(r.get("ceil64p"))
    t.append(("4. client CPU per /ers answer, x%d, us (beside: ceiling's)"
              % PIPELINE, cli_us(r.get("ers64p")),
              "ceil %.2f" % cc if cc else "-", None))
    # The 102,400 twice on one server: its first burst on memory it has
    # not touched yet (page faults in the workers), the second on what
    # the first left (freed memory is kept: tsa/serve.c mallopt).
    seen = {}
    for x in live or ():
        n = x["requests"]
        seen[n] = seen.get(n, 0) + 1
        which = "" if n == 1000 else (" (first, cold heap)" if seen[n] == 1
                                      else " (again, warm heap)")
        most("5. live burst of %d%s: slowest /health beside it, ms" % (
            n, which), x["probe_health_ms_max"], 50)
        most("5. the same: slowest POST / beside it, ms",
             x["probe_token_ms_max"], 50)
    for key, name in (("w1std64", "/ 64 conns, 1 worker"),
                      ("std64", "/ 64 conns"), ("ers64", "/ers 64 conns")):
        j = r.get(key)
        most("6. p99 of %s, ms" % name,
             j["latency_ms"]["p99"] if j and j.get("latency_ms") else None,
             10)
    t.append(("6. memory per in-flight /ers request, KiB", inflight_kib,
              "stated", None))
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--carimbo", default="build/carimbo")
    ap.add_argument("--out", default="build/bench-run")
    ap.add_argument("--seconds", type=float,
                    default=float(os.environ.get("BENCH_SECONDS", "5")))
    ap.add_argument("--workers", type=int,
                    default=int(os.environ.get("BENCH_WORKERS", "2")))
    ap.add_argument("--no-rounds", action="store_true",
                    help="skip the live rounds (bench/rounds.py)")
    a = ap.parse_args()
    a.carimbo = os.path.abspath(a.carimbo)
    os.makedirs(a.out, exist_ok=True)
    d = "%g" % a.seconds
    tmp = tempfile.mkdtemp(prefix="carimbo-bench-")
    state = os.path.join(tmp, "state")
    t0 = time.monotonic()
    srv = None
    wrk_out = None
    live = None
    times = {}      # run key: timing()
    try:
        log("make bench: demo state, server on loopback, %s s per run, "
            "server workers = %d" % (d, a.workers))
        with open("/proc/loadavg") as f:
            load_before = " ".join(f.read().split()[:3])
        subprocess.run([a.carimbo, "init", "--demo", state], check=True,
                       capture_output=True, timeout=300)
        conf = os.path.join(state, "carimbo.conf")
        s = Suite(a)
        d1 = "%g" % a.seconds
        # Target 1 (doc/performance.md "Targets"): / with one signing
        # worker against the raw one-thread rate of the same key, measured
        # just before and just after it.
        srv, port = start(a, state, conf, 1, "server-w1.log")
        url = "http://127.0.0.1:%d/" % port
        s.run("hsm1a", "raw signing, 1 thread", ["--hsm", "-c", conf,
              "--threads", "1", "--duration", d1])
        m0 = metrics(port)
        s.run("w1std64", "/ 64 conns, 1 worker", [
              "--url", url, "--connections", "64", "--duration", d1,
              "-c", conf], srv=srv.pid)
        times["w1std64"] = timing(m0, metrics(port))
        s.run("hsm1b", "raw signing, 1 thread (after)", ["--hsm", "-c", conf,
              "--threads", "1", "--duration", d1])
        std_size = len(post(port, "/", tsq(tmp))[1])
        stop(srv)
        srv = None
        # The same signer with the HTTP work of that run beside it: the
        # trivial responder and its client at /'s rate, answers of /'s
        # size, on the same two cores (what the ratio above cannot have
        # when the client, the loop and the worker share them).
        w1 = rate(s.results.get("w1std64"))
        if w1:
            beside = subprocess.Popen(
                [a.carimbo, "bench", "--ceiling", "--body-size",
                 str(std_size), "--connections", "64", "--rate",
                 "%d" % w1, "--duration", "%g" % (a.seconds + 1.5),
                 "--quiet", "--json", os.path.join(a.out, "beside.json")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            s.run("hsm1c", "raw signing, 1 thread, HTTP at /'s rate "
                  "beside", ["--hsm", "-c", conf, "--threads", "1",
                             "--duration", d1])
            beside.wait(timeout=a.seconds * 4 + 60)
        srv, port = start(a, state, conf, a.workers, "server.log")
        url = "http://127.0.0.1:%d/" % port
        q = tsq(tmp)
        st, body = post(port, "/", q)
        if st != 200:
            sys.exit("make bench: POST / answered %d" % st)
        size = len(body)
        ers_status, ers_body = post(port, "/ers", q)
        # The ceiling's ratios are /ers's (the targets): its
        # responder answers with a body the size of an evidence record.
        if ers_status == 200:
            size = len(ers_body)

        sig = {}
        inflight_kib = None
        common = ["-c", conf]
        # Each ratio's two runs back to back: the load of a shared machine
        # drifts between runs far more than within a pair.
        s.run("hsm1", "raw signing, 1 thread", ["--hsm", "-c", conf,
              "--threads", "1", "--duration", d])
        m0 = metrics(port)
        s.run("std1", "/ 1 conn", ["--url", url, "--connections", "1",
              "--duration", d, *common], srv=srv.pid)
        times["std1"] = timing(m0, metrics(port))
        s.run("hsm2", "raw signing, 2 threads", ["--hsm", "-c", conf,
              "--threads", "2", "--duration", d])
        s.run("std64", "/ 64 conns", ["--url", url, "--connections", "64",
              "--duration", d, *common], svg=True, srv=srv.pid)

        def ceiling(n, pl, when=""):
            # The trivial responder with the same load: the issue's
            # targets compare /ers with it.
            s.run("ceil%d%s%s" % (n, "p" if pl > 1 else "", when),
                  "HTTP ceiling, %d conn%s%s%s" % (
                      n, "s" if n > 1 else "",
                      " x%d" % pl if pl > 1 else "",
                      " (after)" if when else ""),
                  ["--ceiling", "--body-size", str(size), "--connections",
                   str(n), "--pipeline", str(pl), "--duration", d])

        def durable(n, sign=False):
            # The same, its answers behind a durable block write on the
            # ledger's file system (one in flight, group commit): what a
            # server that only honoured the ledger's contract would reach.
            # sign: and behind one signature with the server's key made
            # beside each write, as the server signs a round beside its
            # ledger write (the disk path slows while a core signs).
            s.run("dur%d%s" % (n, "s" if sign else ""),
                  "HTTP ceiling + durable write%s, %d conn%s" % (
                      " + signature" if sign else "", n,
                      "s" if n > 1 else ""),
                  ["--ceiling", "--body-size", str(size), "--connections",
                   str(n), "--duration", d, "--durable",
                   os.path.join(state, "ledger", "bench-durable.blk"),
                   *(["--sign", "-c", conf] if sign else [])])
        ers_note = None
        if ers_status == 404:
            ers_note = ("/ers runs skipped: the server answers 404 on /ers "
                        "(aggregated rounds not integrated yet)")
            ceiling(64, 1)
            ceiling(64, PIPELINE)
        else:
            hwm_before_ers = vm_hwm_kib(srv.pid)
            for n in (1, 64, 512):
                for pl in (1, PIPELINE):
                    key = "ers%d%s" % (n, "p" if pl > 1 else "")
                    # The ceiling with the same load runs just before and
                    # just after: the ratio takes their mean, so a load
                    # that drifts during the three runs cancels out.
                    ceiling(n, pl)
                    if pl == 1 and n < 512:
                        durable(n)
                    if pl == 1 and n == 1:
                        durable(n, sign=True)
                    m0 = metrics(port)
                    s.run(key, "/ers %d conn%s%s" % (
                        n, "s" if n > 1 else "",
                        " x%d" % pl if pl > 1 else ""),
                        ["--url", url + "ers", "--connections", str(n),
                         "--pipeline", str(pl), "--duration", d, *common],
                        svg=(n == 64 and pl == 1), srv=srv.pid)
                    m1 = metrics(port)
                    sig[key] = signing(m0, m1)
                    times[key] = timing(m0, m1)
                    ceiling(n, pl, "b")
            # The largest in-flight load came last: 512 x 16 requests.
            inflight_kib = (vm_hwm_kib(srv.pid) - hwm_before_ers) / (
                512.0 * PIPELINE)
        hwm = vm_hwm_kib(srv.pid)
        stop(srv)
        srv = None
        # The same comparisons with wrk, a lighter client, when installed
        # (not a dependency): wrk-compare.sh starts its own server on the
        # state, so ours had to stop first.
        wrk_out = wrk_runs(a, state) if ers_status == 200 else None
        if ers_status == 200 and not a.no_rounds:
            import rounds   # bench/rounds.py; it imports this file
            a.bursts = "1000,102400,102400"
            live = rounds.run(a)
    finally:
        if srv is not None:
            stop(srv)
        shutil.rmtree(tmp, ignore_errors=True)

    r = s.results

    def ceil_rate(key):
        # The mean of the runs before and after, or the one there is.
        v = [rate(r.get(k)) for k in (key, key + "b") if rate(r.get(k))]
        return sum(v) / len(v) if v else None
    ceil64 = ceil_rate("ceil64")
    ratios = {
        "std64": ("of raw signing, %d thread%s" % (
            a.workers, "s" if a.workers > 1 else ""),
            rate(r.get("hsm%d" % min(a.workers, 2)))),
        "std1": ("of raw signing, 1 thread", rate(r.get("hsm1"))),
    }
    ratios["dur1s"] = ("of the durable ceiling, 1 conn", rate(r.get("dur1")))
    hsm1 = [rate(r.get(k)) for k in ("hsm1a", "hsm1b") if rate(r.get(k))]
    ratios["w1std64"] = ("of raw signing, 1 thread (mean of before and "
                         "after)", sum(hsm1) / len(hsm1) if hsm1 else None)
    for n in (1, 64, 512):
        for pl in (1, PIPELINE):
            p = "p" if pl > 1 else ""
            # /ers, and the durable ceiling where it ran, against the
            # ceiling with the same load.
            for k in ("ers", "dur"):
                ratios["%s%d%s" % (k, n, p)] = (
                    "of HTTP ceiling (mean of before and after)",
                    ceil_rate("ceil%d%s" % (n, p)))
    with open("/proc/loadavg") as f:
        load_after = " ".join(f.read().split()[:3])
    m = (r.get("std64") or r.get("hsm1") or {}).get("machine", {})
    print()
    print("carimbo bench (make bench): %s cores, kernel %s, %s, SoftHSM2 %s"
          % (m.get("cores"), m.get("kernel"), m.get("openssl"),
             m.get("softhsm2")))
    print("load average before %s, after %s; %s s per run; server workers "
          "= %d; ceiling's response body %d bytes" % (load_before, load_after, d,
                                            a.workers, size))
    print()
    # srv us: the server's CPU time (all threads) per answer; for the
    # ceiling, its responder thread's.  Less shaken by a noisy machine
    # than the rates: it tells what each answer costs, not how fast.
    hdr = "%-30s %11s %7s %8s %8s %9s %8s %7s %7s  %s" % (
        "run", "per second", "errors", "p50 ms", "p99 ms", "p99.9 ms",
        "max ms", "srv us", "cli us", "ratio")
    print(hdr)
    print("-" * len(hdr))
    for key, name, j, note in s.rows:
        if j is None:
            print("%-30s %s" % (name, note or "no result"))
            continue
        lat = j.get("latency_ms")
        ratio = ""
        if key in ratios and ratios[key][1]:
            ratio = "%.3f %s" % (rate(j) / ratios[key][1], ratios[key][0])
        if key in ("ers1", "ers64") and rate(r.get("dur" + key[3:])):
            ratio += "; %.3f of the durable ceiling" % (
                rate(j) / rate(r["dur" + key[3:]]))
        if key == "ers1" and rate(r.get("dur1s")):
            ratio += "; %.3f of the one that signs" % (
                rate(j) / rate(r["dur1s"]))
        if key == "std64" and ceil64:
            ratio += "; %.3f of HTTP ceiling, 64 conns" % (rate(j) / ceil64)
        if key.startswith("ers") and rate(r.get("std64")):
            ratio += ("; " if ratio else "") + "%.2fx / 64 conns" % (
                rate(j) / rate(r["std64"]))
        cu = cpu_us(j)
        ku = None if key.startswith("hsm") else cli_us(j)
        ku = "%.2f" % ku if ku else ""
        if lat:
            print("%-30s %11.1f %7d %8.3f %8.3f %9.3f %8.3f %7s %7s  %s%s"
                  % (name, rate(j), j.get("errors", 0), lat["p50"],
                     lat["p99"], lat["p999"], lat["max"],
                     "%.2f" % cu if cu else "", ku, ratio,
                     "  " + note if note else ""))
        else:
            print("%-30s %11.1f %7d %8s %8s %9s %8s %7s %7s  %s%s" % (
                name, rate(j), j.get("errors", 0), "", "", "", "", "", "",
                ratio, "  " + note if note else ""))
    print()
    if sig:
        # doc/design.md "Two kinds of answer": one PKCS#11 signature per
        # tree of a round, plus the anchors; the /ers runs sign no
        # standard token.  The clock audit log's stamps are counted apart
        # (stamps).
        print("%-30s %9s %8s %8s %8s %7s %11s %9s %7s %8s  %s" % (
            "key use (from /metrics)", "requests", "rounds", "trees",
            "anchors", "stamps", "signatures", "req/round", "syncs",
            "write ms", "check"))
        for key, name, j, note in s.rows:
            g = sig.get(key)
            if g is None:
                continue
            print("%-30s %9d %8d %8d %8d %7d %11d %9.1f %7d %8.3f  %s" % (
                name, g["requests"], g["rounds"], g["round_tokens"],
                g["anchors"], g["stamps"], g["signatures"], g["requests"] /
                max(g["rounds"], 1), g["ledger_syncs"], g["ledger_write_ms"],
                "signatures = trees + anchors + stamps" if key_use_ok(g)
                else "MISMATCH: signatures %s" % g["signatures_by_kind"]))
        print()
    if times:
        # A request's wait, piece by piece: at one connection, the
        # client's period (1 / rate) against the write and the round.
        print("%-30s %9s %9s %9s %9s %13s %9s" % (
            "where a round's time goes", "req/round", "period ms",
            "write ms", "sign ms", "close->reply", "turn ms"))
        for key, name, j, note in s.rows:
            t = times.get(key)
            if t is None or not rate(j):
                continue

            def f(v):
                return "%.3f" % v if v is not None else "-"
            print("%-30s %9.1f %9.3f %9s %9s %13s %9s" % (
                name, t["requests"] / max(t["rounds"], 1),
                1e3 * j.get("connections", 1) * j.get("pipeline", 1) /
                rate(j), f(t["write_ms"]), f(t["sign_ms"]),
                f(t["close_to_release_ms"]), f(t["turn_ms"])))
        print()
    if ers_note:
        print("note: " + ers_note)
    if inflight_kib is not None:
        print("memory per in-flight /ers request: %.2f KiB (VmHWM growth "
              "over the /ers runs / (512 x %d in flight))" % (
                  inflight_kib, PIPELINE))
    print("server peak RSS (VmHWM): %.1f MiB" % (hwm / 1024))
    if wrk_out:
        print()
        print("with wrk as the client (bench/wrk-compare.sh, one wrk "
              "thread, %s s a run):" % d)
        for line in wrk_out:
            print("  " + line if line else "")
    if live:
        print()
        print("live rounds (bench/rounds.py, server workers = %d):" %
              a.workers)
        import rounds
        for lr in live:
            rounds.show(lr)
    targets = target_table(r, ceil_rate, inflight_kib, live)
    print()
    print("targets (issue \"Performance against the floors\"; ratios from "
          "runs of this sitting)")
    w = max(len(t[0]) for t in targets)
    hdr = "%-*s %9s %9s  %s" % (w, "target", "measured", "goal", "")
    print(hdr)
    print("-" * len(hdr))
    for name, v, goal, ok in targets:
        print("%-*s %9s %9s  %s" % (
            w, name, "-" if v is None else "%.3f" % v if v < 10 else
            "%.1f" % v, goal, "" if ok is None else "met" if ok
            else "NOT MET"))
    print("total time: %.0f s; JSON and SVG in %s" % (
        time.monotonic() - t0, a.out))
    summary = {"runs": {k: v for k, v in r.items()},
               "server_vm_hwm_kib": hwm, "response_body_bytes": size,
               "server_workers": a.workers, "seconds_per_run": a.seconds,
               "loadavg_before": load_before, "loadavg_after": load_after,
               "ers_skipped": ers_note, "ers_key_use": sig,
               "round_times": times,
               "ers_inflight_kib_per_request": inflight_kib,
               "wrk": wrk_out, "live_rounds": live,
               "targets": [{"target": n, "measured": v, "goal": g, "met": ok}
                           for n, v, g, ok in targets]}
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    bad = [n for k, n, j, note in s.rows if j is None or note]
    bad += ["key use of " + k for k, g in sig.items() if not key_use_ok(g)]
    if live:
        import rounds
        bad += ["live round of %d" % n for n in rounds.failed(live)]
    if bad:
        print("runs with errors: " + ", ".join(bad))
        sys.exit(1)


if __name__ == "__main__":
    main()
