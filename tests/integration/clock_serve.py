# SPDX-License-Identifier: ISC
"""The clock gate inside the server, judged from outside (issue 5).

A demo state from `carimbo init --demo`, a real chronyd and the lying NTP
server of clock.py, and `carimbo serve --clock-mode strict --ntp-server
...`: while the liar is honest, `/` and `/ers` grant (a token, an
EvidenceRecord) and /health says the gate is open; while it claims +2 s,
both answer a rejection with failInfo timeNotAvailable (openssl: "the
TSA's time source is not available"), /health answers 503 with the
reason and /metrics shows the gate closed; once honest again the gate
reopens by itself after the hold time.  Then `clock audit` verifies the
server's audit log and counts the refusals.

A `serve` without --clock-mode, or an `init --demo` that fails or writes
no clock-seal.pub, is a failure: both are the product under test.  Exit 77 only when chronyd
cannot run here (clock.py says why).
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clock as ck  # noqa: E402  (the Liar and chronyd helpers)

CARIMBO = os.environ.get("CARIMBO", "build/carimbo")


def http(url, data=None, ctype=None):
    req = urllib.request.Request(url, data=data)
    if ctype:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def stamp(d, url, name):
    data, tsq, tsr = (os.path.join(d, name + x) for x in (".dat", ".tsq",
                                                           ".tsr"))
    with open(data, "wb") as f:
        f.write(os.urandom(64))
    subprocess.run(["openssl", "ts", "-query", "-data", data, "-sha256",
                    "-cert", "-out", tsq], check=True, capture_output=True)
    status, body = http(url, open(tsq, "rb").read(),
                        "application/timestamp-query")
    if status != 200:
        ck.fail(f"{url}: HTTP {status}")
    with open(tsr, "wb") as f:
        f.write(body)
    if first_inner_tag(body) == 0x02:
        # An RFC 4998 EvidenceRecord (version INTEGER first), from /ers.
        return "Status: Granted (EvidenceRecord)"
    r = subprocess.run(["openssl", "ts", "-reply", "-in", tsr, "-text"],
                       capture_output=True, text=True)
    return r.stdout + r.stderr


def first_inner_tag(der):
    """The tag of the first element inside the outer SEQUENCE."""
    if len(der) < 4 or der[0] != 0x30:
        return -1
    n = der[1]
    i = 2 + (n & 0x7f if n & 0x80 else 0)
    return der[i] if i < len(der) else -1


def wait_gate(base, want, timeout=8.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status, body = http(base + "health")
        text = body.decode(errors="replace")
        if f'"gate":"{want}"' in text:
            return status, text
        time.sleep(0.1)
    ck.fail(f"/health never said gate {want}: {status} {text}")


def main():
    r = subprocess.run([CARIMBO, "serve", "--clock-mode", "demo"],
                       capture_output=True, text=True, timeout=10)
    if "unrecognized option" in r.stderr or "--clock-mode" not in r.stderr:
        ck.fail("serve does not take --clock-mode (wiring: ntp/README.md): "
                + r.stderr[-300:])
    d = tempfile.mkdtemp(prefix="carimbo-clock-serve-")
    os.chmod(d, 0o700)
    state = os.path.join(d, "state")
    chronyd = liar = srv = None
    try:
        r = subprocess.run([CARIMBO, "init", "--demo", state],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            ck.fail("carimbo init --demo failed: " + r.stderr[-300:])
        pub = os.path.join(state, "clock-seal.pub")
        if not os.path.exists(pub):
            # init calls clock_seal_keygen() (init.c, step 3).
            ck.fail("init --demo wrote no clock-seal.pub")
        chronyd, port, cmdport = ck.start_chronyd(d)
        liar = ck.Liar()
        conf = os.path.join(state, "clock-test.conf")
        with open(os.path.join(state, "carimbo.conf")) as f:
            base = f.read()
        with open(conf, "w") as f:
            f.write(base + f"""
clock_kernel = ignore
clock_chrony = 127.0.0.1:{cmdport}
clock_min_sources = 2
clock_poll_ms = 150
clock_hold_ms = 400
clock_ntp_timeout_ms = 300
clock_seal_interval_ms = 500
""")
        srv = subprocess.Popen([CARIMBO, "serve", "-c", conf, "--listen",
                                "127.0.0.1:0", "--clock-mode", "strict",
                                "--ntp-server", f"127.0.0.1:{liar.port}"],
                               stdout=subprocess.PIPE,
                               stderr=open(os.path.join(d, "serve.log"),
                                           "w"), text=True)
        m = re.match(r"listening on 127\.0\.0\.1:(\d+)",
                     srv.stdout.readline())
        if not m:
            ck.fail("serve did not start: " +
                    open(os.path.join(d, "serve.log")).read()[-2000:])
        base = f"http://127.0.0.1:{m.group(1)}/"

        status, health = wait_gate(base, "open")
        if status != 200:
            ck.fail(f"/health {status} with the gate open")
        for path in ("", "ers"):
            out = stamp(d, base + path, "ok" + path)
            if "Status: Granted" not in out:
                ck.fail(f"/{path} with the gate open:\n{out}")

        liar.mode = "+2"
        status, health = wait_gate(base, "closed")
        # The gate word and the sources' details are published one after
        # the other: under a slow build (ASan) the first closed reading
        # may still carry the previous detail.
        deadline = time.time() + 5
        while "offset +" not in health and time.time() < deadline:
            time.sleep(0.1)
            status, body = http(base + "health")
            health = body.decode(errors="replace")
        if status != 503 or "offset +" not in health:
            ck.fail(f"/health while closed: {status} {health}")
        for path in ("", "ers"):
            out = stamp(d, base + path, "closed" + path)
            if "Status: Rejected" not in out or \
                    "time source is not available" not in out:
                ck.fail(f"/{path} while closed:\n{out}")
        status, metrics = http(base + "metrics")
        if "carimbo_clock_gate_open 0" not in metrics.decode():
            ck.fail("/metrics does not show the gate closed")

        liar.mode = "ok"
        wait_gate(base, "open")
        out = stamp(d, base, "reopened")
        if "Status: Granted" not in out:
            ck.fail("no token after the gate reopened:\n" + out)

        srv.send_signal(signal.SIGTERM)
        srv.wait(timeout=20)
        logs = sorted(os.path.join(state, "clock", f)
                      for f in os.listdir(os.path.join(state, "clock"))
                      if f.endswith(".log"))
        r = subprocess.run([CARIMBO, "clock", "audit", *logs, "--pubkey",
                            pub, "--ca", os.path.join(state, "root.pem")],
                           capture_output=True, text=True, timeout=30)
        print(r.stdout)
        m = re.search(r"refused requests: (\d+)", r.stdout)
        if r.returncode != 0 or m is None or int(m.group(1)) < 2:
            ck.fail("clock audit of the server's log:\n" + r.stdout +
                    r.stderr)
        print("clock_serve: all checks passed")
    finally:
        if srv is not None and srv.poll() is None:
            srv.kill()
            srv.wait()
        if liar is not None:
            liar.close()
        if chronyd is not None:
            chronyd.terminate()
            chronyd.wait(timeout=5)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
