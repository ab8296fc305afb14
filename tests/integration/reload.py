#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# SIGHUP (doc/design.md "Reload"): while `carimbo bench` loads `/` at 8
# connections, five reloads go in place and three are refused, and the
# bench sees no error and every answer right.  What a reload changes shows
# in the very next token: a policy added (refused with unacceptedPolicy
# before, granted with it after), the declared accuracy loosened and
# tightened again (in the token, in /health, and as CONFIG records that
# `carimbo clock audit` reads), limits.  What is refused leaves the running
# settings as they were, with the reason in the log: an unknown key, a
# setting that needs a restart, a TSA certificate of another key.  The
# service manager hears RELOADING=1 and then READY=1 for each.  The ledger
# verifies afterwards.
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

CARIMBO = os.environ.get("CARIMBO", "build/carimbo")
TMP = tempfile.mkdtemp(prefix="carimbo-reload-")
STATE = os.path.join(TMP, "state")
CONF = os.path.join(STATE, "carimbo.conf")
LOG = os.path.join(TMP, "server.log")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("  FAIL:", what, flush=True)


def query(name, *extra):
    path = os.path.join(TMP, name + ".tsq")
    subprocess.run(["openssl", "ts", "-query", "-data", CONF, "-sha256",
                    "-cert", *extra, "-out", path], check=True,
                   capture_output=True)
    return path


def stamp(port, q):
    req = urllib.request.Request("http://127.0.0.1:%d/" % port,
                                 data=open(q, "rb").read(), headers={
                                     "Content-Type":
                                     "application/timestamp-query"})
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read()
    path = os.path.join(TMP, "r.tsr")
    with open(path, "wb") as f:
        f.write(body)
    return subprocess.run(["openssl", "ts", "-reply", "-in", path, "-text"],
                          capture_output=True).stdout.decode()


def health(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/health" % port,
                                    timeout=10) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        return json.loads(e.read())


def log_text():
    with open(LOG, errors="replace") as f:
        return f.read()


def notes(sock, secs):
    out, end = [], time.time() + secs
    while time.time() < end:
        sock.settimeout(max(0.01, end - time.time()))
        try:
            out.append(sock.recv(4096).decode())
        except socket.timeout:
            break
    return out


subprocess.run([CARIMBO, "init", "--demo", STATE], check=True,
               capture_output=True, timeout=120)
base = open(CONF).read()
q_std = query("std")
q_pol = query("pol", "-tspolicy", "1.2.3.4.5")

nsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
nsock.bind(os.path.join(TMP, "notify"))
srv = subprocess.Popen([CARIMBO, "serve", "-c", CONF, "--listen",
                        "127.0.0.1:0"], stdout=subprocess.PIPE,
                       stderr=open(LOG, "wb"),
                       env=dict(os.environ,
                                NOTIFY_SOCKET=os.path.join(TMP, "notify")))
bench = None
try:
    m = re.match(r"listening on 127\.0\.0\.1:(\d+)",
                 srv.stdout.readline().decode())
    port = int(m.group(1))
    notes(nsock, 1)     # READY=1, first STATUS
    text = stamp(port, q_pol)
    check("Status: Rejected." in text and "policy is not supported" in
          text, "policy before the reload: %s" % text[:300])

    js = os.path.join(TMP, "bench.json")
    bench = subprocess.Popen([CARIMBO, "bench", "--url",
                              "http://127.0.0.1:%d/" % port, "--connections",
                              "8", "--duration", "14", "-c", CONF, "--quiet",
                              "--json", js], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    time.sleep(1)

    def reload(extra, what):
        """Writes base + extra, sends SIGHUP, waits for the end."""
        with open(CONF, "w") as f:
            f.write(base + extra)
        mark = len(log_text())
        srv.send_signal(signal.SIGHUP)
        got = notes(nsock, 3)
        seen = [n.split("\n")[0] for n in got
                if n.startswith(("RELOADING=1", "READY=1"))]
        check(seen[:2] == ["RELOADING=1", "READY=1"],
              "%s: the service manager heard %r" % (what, seen))
        return log_text()[mark:]

    more = "\npolicy = 1.2.3.4.5\n"
    new = reload(more, "policy")
    check("reload: in place" in new, "policy: not in place: %s" % new)
    text = stamp(port, q_pol)
    check("Status: Granted." in text and "Policy OID: 1.2.3.4.5" in text,
          "policy after the reload: %s" % text[:400])

    more += "accuracy_seconds = 2\n"
    new = reload(more, "accuracy 2 s")
    check("reload: in place" in new, "accuracy: not in place: %s" % new)
    time.sleep(0.5)
    text = stamp(port, q_std)
    check("Accuracy: 0x02 seconds" in text, "accuracy 2 s: %s" % text[:500])
    h = health(port)
    check(h.get("clock", {}).get("accuracy_ms") == 2000.0,
          "health after 2 s: %s" % h.get("clock", {}).get("accuracy_ms"))

    more = more.replace("accuracy_seconds = 2", "accuracy_seconds = 1")
    more += "max_pipeline = 16\nidle_timeout = 45\n"
    new = reload(more, "accuracy 1 s, limits")
    check("reload: in place" in new and "16 per connection (max_pipeline)"
          in new, "limits: not in place: %s" % new)
    text = stamp(port, q_std)
    check("Accuracy: 0x01 seconds" in text, "accuracy 1 s: %s" % text[:500])

    # Refused, each with its reason; the settings stay.
    for extra, want in (("bogus_key = 1\n", 'unknown key "bogus_key"'),
                        ("workers = 2\n",
                         "workers changed, which needs a restart"),
                        ("tsa_chain = root.pem\n",
                         "the TSA certificate is not of key")):
        new = reload(more + extra, want)
        check("reload refused" in new and want in new and
              "reload: in place" not in new,
              "refused %r: %s" % (extra.strip(), new))
        text = stamp(port, q_pol)
        check("Status: Granted." in text and "Accuracy: 0x01 seconds" in
              text, "after the refusal of %r: %s" % (extra.strip(),
                                                     text[:300]))

    new = reload(more + "gentime_digits = 6\n", "gentime_digits")
    check("reload: in place" in new, "gentime_digits: not in place: %s" %
          new)
    # DER drops a fraction's trailing zeros: of three genTimes to the
    # microsecond, one at least has more than the 3 digits before.
    times = [re.findall(r"Time stamp: .*", stamp(port, q_std))
             for _ in range(3)]
    check(any(re.search(r"\d\d:\d\d:\d\d\.\d{4,6} \d{4} GMT", t[0])
              for t in times if t), "genTime to the microsecond: %s" % times)

    # Back to the start: the fifth in place.
    new = reload("", "back")
    check("reload: in place" in new, "back: not in place: %s" % new)
    text = stamp(port, q_pol)
    check("Status: Rejected." in text, "policy gone again: %s" % text[:300])

    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port,
                                timeout=10) as r:
        met = r.read().decode()
    check('carimbo_reloads_total{result="applied"} 5' in met and
          'carimbo_reloads_total{result="refused"} 3' in met,
          "metrics: %s" % re.findall(r"carimbo_reloads_total.*", met))
    bench.wait(60)
    err = bench.stderr.read().decode()
    with open(js) as f:
        j = json.load(f)
    check(bench.returncode == 0 and j["errors"] == 0 and
          j["result"]["ok"] > 0 and j["result"]["sent"] == j["result"]["ok"],
          "bench across the reloads: exit %d, %s errors, %s: %s" % (
              bench.returncode, j["errors"], j["result"], err[-300:]))
finally:
    if bench is not None and bench.poll() is None:
        bench.kill()
    srv.terminate()
    srv.wait(30)

p = subprocess.run([CARIMBO, "ledger", "verify", os.path.join(STATE,
                    "ledger")], capture_output=True, timeout=120)
check(p.returncode == 0, "ledger verify: %s" % p.stderr.decode()[-300:])
p = subprocess.run([CARIMBO, "clock", "audit", os.path.join(STATE, "clock"),
                    "--pubkey", os.path.join(STATE, "clock-seal.pub")],
                   capture_output=True, timeout=60)
out = p.stdout.decode()
check(p.returncode == 0 and "declared accuracy 2000.000 ms from here on" in
      out and "declared accuracy 1000.000 ms from here on" in out,
      "clock audit: exit %d: %s %s" % (p.returncode, out[-600:],
                                        p.stderr.decode()[-300:]))

if failures:
    print("%d failures; server log: %s" % (len(failures), LOG))
    sys.exit(1)
print("reload.py: all checks passed")
