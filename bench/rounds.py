#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# Live rounds (doc/performance.md "Live rounds"): bursts of /ers requests
# that arrive together at a running server, 1,000 (10 connections
# pipelining 100) and 102,400 (400 connections pipelining 256, the
# deepest bench pipelines), each sent
# by `carimbo bench` at once and every answer checked by it.  Beside each
# burst a probe connection asks GET /health (answered by the loop) and
# another POST / (a standard token, signed by a worker) one after the
# other, so that a round which held the loop or the workers up shows as a
# probe waiting.  From /metrics before and after: the rounds and their
# sizes, the time from a round's close to its last reply, the signatures
# by kind; from /proc: the server's peak RSS during the burst.
#
# The server runs with max_pipeline 256 and max_inflight 131072, so that
# the whole burst is read (the defaults, 32 a connection, would split it
# into rounds of at most 400 x 32); a round still closes at
# round_max_requests (4096, the default), so 102,400 make at least 25.
#
# make bench sends the 102,400 twice: the server's first burst runs on
# memory the process has not touched yet (the workers' page faults), the
# second on what the first left, as a server in service would.
#
#   python3 bench/rounds.py --carimbo build/carimbo --out build/bench-run
#       [--workers N] [--bursts 1000,102400,102400]
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402  (metrics, post, tsq, stop, vm_hwm_kib)

BURSTS = {1000: (10, 100), 102400: (400, 256)}
ROUND_MAX_MS = 50       # the default, which the probes are judged by


class Probe(threading.Thread):
    """One keep-alive connection asking the same request again and again
    until stopped: the latency of each answer, in ms."""

    def __init__(self, port, request):
        super().__init__(daemon=True)
        self.port, self.request = port, request
        self.lat, self.bad = [], []
        self.halt = threading.Event()

    def run(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        buf = b""
        while not self.halt.is_set():
            t0 = time.monotonic()
            s.sendall(self.request)
            while b"\r\n\r\n" not in buf:
                buf += s.recv(65536)
            head, _, buf = buf.partition(b"\r\n\r\n")
            n = int(re.search(rb"(?i)\r\ncontent-length:\s*(\d+)",
                              head).group(1))
            while len(buf) < n:
                buf += s.recv(65536)
            buf = buf[n:]
            self.lat.append((time.monotonic() - t0) * 1e3)
            st = int(head.split(b" ", 2)[1])
            if st != 200:
                self.bad.append(st)
            time.sleep(0.002)
        s.close()


def p99(v):
    return sorted(v)[int(0.99 * (len(v) - 1))] if v else None


def hist(m0, m1, name):
    """The increments of a histogram's buckets: [(le, count)], count > 0,
    per bucket (not cumulative)."""
    out, prev = [], 0
    pat = re.compile(r'^%s_bucket\{le="([^"]+)"\}$' % name)
    rows = sorted(((float(pat.match(k).group(1)), v - m0.get(k, 0))
                   for k, v in m1.items() if pat.match(k)))
    for le, cum in rows:
        if cum - prev > 0:
            out.append((le, cum - prev))
        prev = cum
    return out


def burst(a, port, url, conf, n, srv_pid, q):
    conns, depth = BURSTS[n]
    m0 = suite.metrics(port)
    with open("/proc/%d/clear_refs" % srv_pid, "w") as f:
        f.write("5")            # VmHWM from here
    rss0 = suite.vm_hwm_kib(srv_pid)
    health = Probe(port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    std = Probe(port, b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/timestamp-query\r\n"
                b"Content-Length: %d\r\n\r\n" % len(q) + q)
    health.start()
    std.start()
    time.sleep(0.2)
    js = os.path.join(a.out, "rounds-%d.json" % n)
    cmd = [a.carimbo, "bench", "--url", url + "ers", "--connections",
           str(conns), "--pipeline", str(depth), "--requests",
           str(conns * depth), "-c", conf, "--quiet", "--json", js]
    suite.log("  %d /ers requests: %s" % (conns * depth, " ".join(cmd[2:])))
    p = subprocess.run(cmd, capture_output=True, timeout=600)
    # The rounds' ledger records and last replies are out once bench has
    # every answer; the anchor and the metrics a moment later.
    time.sleep(0.3)
    health.halt.set()
    std.halt.set()
    health.join(30)
    std.join(30)
    m1 = suite.metrics(port)
    try:
        with open(js) as f:
            j = json.load(f)
    except OSError:
        sys.exit("rounds.py: bench exit %d: %s" % (
            p.returncode, p.stderr.decode(errors="replace").strip()))
    g = suite.signing(m0, m1)
    lat = j["result"]["latency_ms"]
    rl_n = m1["carimbo_round_latency_seconds_count"] - m0.get(
        "carimbo_round_latency_seconds_count", 0)
    rl_s = m1["carimbo_round_latency_seconds_sum"] - m0.get(
        "carimbo_round_latency_seconds_sum", 0)
    return {
        "requests": conns * depth, "connections": conns, "pipeline": depth,
        "bench_exit": p.returncode,
        "bench_stderr": p.stderr.decode(errors="replace")[-400:],
        "ok": j["result"]["ok"], "errors": j["result"]["errors"],
        "verified": j["result"]["verified"],
        "first_reply_ms": lat["min"], "last_reply_ms": lat["max"],
        "p50_ms": lat["p50"],
        "rounds": g["rounds"],
        "round_sizes": hist(m0, m1, "carimbo_round_requests"),
        "round_close_to_last_reply_ms_mean": 1e3 * rl_s / max(rl_n, 1),
        "round_close_to_last_reply_ms_buckets": hist(
            m0, m1, "carimbo_round_latency_seconds"),
        "loop_turn_buckets": hist(m0, m1, "carimbo_loop_turn_seconds"),
        "signing": g,
        # One signature per tree, anchor, audit stamp and probe token:
        # not one per /ers request.
        "key_use_ok": g["signatures"] == g["round_tokens"] + g["anchors"]
        + g["stamps"] + len(std.lat) and
        g["signatures_by_kind"]["token"] == len(std.lat),
        "peak_rss_mib": suite.vm_hwm_kib(srv_pid) / 1024.0,
        "rss_before_mib": rss0 / 1024.0,
        "probe_health_ms_max": max(health.lat, default=None),
        "probe_health_ms_p99": p99(health.lat),
        "probe_token_ms_p99": p99(std.lat),
        "probe_health_n": len(health.lat), "probe_health_bad": health.bad,
        "probe_token_ms_max": max(std.lat, default=None),
        "probe_token_n": len(std.lat), "probe_token_bad": std.bad,
    }


def show(r):
    print("%d /ers requests (%d connections x %d pipelined): %d ok, "
          "%d errors, %d fully verified" % (
              r["requests"], r["connections"], r["pipeline"], r["ok"],
              r["errors"], r["verified"]))
    print("  rounds: %d; requests per round (bucket upper bound: rounds): %s"
          % (r["rounds"], ", ".join("<=%g: %d" % b
                                    for b in r["round_sizes"])))
    print("  client: first reply %.1f ms, p50 %.1f ms, last reply %.1f ms "
          "after the burst was sent" % (r["first_reply_ms"], r["p50_ms"],
                                        r["last_reply_ms"]))
    print("  server: a round's close to its last reply, mean %.1f ms "
          "(buckets: %s)" % (
              r["round_close_to_last_reply_ms_mean"], ", ".join(
                  "<=%gs: %d" % b
                  for b in r["round_close_to_last_reply_ms_buckets"])))
    tb = r["loop_turn_buckets"]
    print("  the loop's turns: %d, the longest <= %g ms; %d over %d ms "
          "(round_max_ms)" % (
              sum(c for _, c in tb), 1e3 * tb[-1][0] if tb else 0,
              sum(c for le, c in tb if le > ROUND_MAX_MS / 1e3),
              ROUND_MAX_MS))
    g = r["signing"]
    print("  signatures: %d = %d trees + %d anchors + %d stamps + %d "
          "probe tokens (%s)" % (
              g["signatures"], g["round_tokens"], g["anchors"], g["stamps"],
              g["signatures_by_kind"]["token"],
              "consistent" if r["key_use_ok"] else "MISMATCH"))
    print("  peak RSS %.1f MiB (%.1f before; %.2f KiB per request)" % (
        r["peak_rss_mib"], r["rss_before_mib"], 1024 * (
            r["peak_rss_mib"] - r["rss_before_mib"]) / r["requests"]))
    print("  beside it: GET /health answered %d times, p99 %.1f ms, slowest "
          "%.1f ms; POST / %d times, p99 %.1f ms, slowest %.1f ms "
          "(round_max_ms %d)" % (
              r["probe_health_n"], r["probe_health_ms_p99"] or -1,
              r["probe_health_ms_max"] or -1, r["probe_token_n"],
              r["probe_token_ms_p99"] or -1, r["probe_token_ms_max"] or -1,
              ROUND_MAX_MS))


def run(a):
    """The bursts, one after the other, against one server of their own:
    the results, or exit."""
    tmp = tempfile.mkdtemp(prefix="carimbo-rounds-")
    state = os.path.join(tmp, "state")
    srv = None
    res = []
    try:
        subprocess.run([a.carimbo, "init", "--demo", state], check=True,
                       capture_output=True, timeout=300)
        conf = os.path.join(state, "carimbo.conf")
        rconf = os.path.join(state, "rounds.conf")
        with open(conf) as f, open(rconf, "w") as g:
            g.write(f.read() + "\n# bench/rounds.py\nworkers = %d\n"
                    "max_pipeline = 256\nmax_inflight = 131072\n"
                    "round_max_ms = %d\n" % (a.workers, ROUND_MAX_MS))
        srv = subprocess.Popen([a.carimbo, "serve", "-c", rconf, "--listen",
                                "127.0.0.1:0"], stdout=subprocess.PIPE,
                               stderr=open(os.path.join(
                                   a.out, "rounds-server.log"), "wb"))
        m = re.match(r"listening on 127\.0\.0\.1:(\d+)",
                     srv.stdout.readline().decode())
        if not m:
            sys.exit("rounds.py: the server did not start")
        port = int(m.group(1))
        url = "http://127.0.0.1:%d/" % port
        q = suite.tsq(tmp)
        if suite.post(port, "/ers", q)[0] != 200:
            sys.exit("rounds.py: POST /ers did not answer 200")
        suite.log("live rounds: server workers = %d, max_pipeline 256, "
                  "round_max_requests 4096, round_max_ms %d" % (
                      a.workers, ROUND_MAX_MS))
        for n in (int(x) for x in a.bursts.split(",")):
            res.append(burst(a, port, url, rconf, n, srv.pid, q))
        suite.stop(srv)
        srv = None
    finally:
        if srv is not None:
            suite.stop(srv)
        shutil.rmtree(tmp, ignore_errors=True)
    with open(os.path.join(a.out, "rounds.json"), "w") as f:
        json.dump(res, f, indent=1)
    return res


def failed(res):
    """The bursts with an error, a wrong answer or a key use that does not
    add up."""
    return [r["requests"] for r in res
            if r["bench_exit"] != 0 or r["errors"] or r["ok"] != r["requests"]
            or not r["key_use_ok"] or r["probe_health_bad"]
            or r["probe_token_bad"]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--carimbo", default="build/carimbo")
    ap.add_argument("--out", default="build/bench-run")
    ap.add_argument("--workers", type=int,
                    default=int(os.environ.get("BENCH_WORKERS", "2")))
    ap.add_argument("--bursts", default="1000,102400,102400")
    a = ap.parse_args()
    a.carimbo = os.path.abspath(a.carimbo)
    os.makedirs(a.out, exist_ok=True)
    res = run(a)
    print()
    for r in res:
        show(r)
    bad = failed(res)
    if bad:
        sys.exit("live rounds with errors: %s" % bad)


if __name__ == "__main__":
    main()
