#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# `carimbo bench` against the real server: a demo state, `carimbo serve` on
# a loopback port, short bounded runs (closed loop with a digest mix and
# full verification of a large sample, open loop at a fixed rate, the
# bare-HTTP ceiling, a compare, /ers).  Each must report non-zero
# throughput and zero errors, write JSON holding the documented keys, and
# an SVG that is well-formed XML.  The durable ceiling that signs
# (--sign) makes one signature per write, and fails, saying why, on a
# key or PIN the token refuses and on the token failing mid-run.  A wrong answer must be counted: a run
# against a server that answers 404 fails with http_status errors and
# exit 1.
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

CARIMBO = os.environ.get("CARIMBO", "build/carimbo")
MODULE = os.environ.get("CARIMBO_PKCS11_MODULE",
                        "/usr/lib/softhsm/libsofthsm2.so")
if not os.access(MODULE, os.R_OK):
    print("skipped: %s absent (apt-get install softhsm2)" % MODULE)
    sys.exit(77)

TMP = tempfile.mkdtemp(prefix="carimbo-bench-")
STATE = os.path.join(TMP, "state")
CONF = os.path.join(STATE, "carimbo.conf")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("  FAIL:", what)


def bench(name, *args, want_rc=0):
    js = os.path.join(TMP, name + ".json")
    svg = os.path.join(TMP, name + ".svg")
    p = subprocess.run([CARIMBO, "bench", *args, "--quiet", "--json", js,
                        "--svg", svg], capture_output=True, timeout=60)
    out = p.stdout.decode(errors="replace")
    check(p.returncode == want_rc, "%s: exit %d, want %d: %s" % (
        name, p.returncode, want_rc, p.stderr.decode(errors="replace")[-800:]))
    try:
        with open(js) as f:
            j = json.load(f)
    except (OSError, ValueError) as e:
        check(False, "%s: JSON: %s" % (name, e))
        return None, out
    try:
        root = ET.parse(svg).getroot()
        check(root.tag == "{http://www.w3.org/2000/svg}svg",
              "%s: SVG root is %s" % (name, root.tag))
        check(len(root.findall(".//{http://www.w3.org/2000/svg}polyline"))
              >= 2, "%s: SVG lacks its two curves" % name)
    except (OSError, ET.ParseError) as e:
        check(False, "%s: SVG not well-formed: %s" % (name, e))
    return j, out


def exchange_raw(port, request):
    """One request on its own connection: the bytes of one answer."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(request)
    got = b""
    while b"\r\n\r\n" not in got or len(got.partition(b"\r\n\r\n")[2]) < \
            int(re.search(rb"Content-Length: (\d+)", got).group(1)):
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    s.close()
    return got


def headline(name, j, errors=0):
    if j is None:
        return
    for k in ("requests_per_second", "errors", "latency_ms", "machine",
              "connections", "pipeline"):
        check(k in j, "%s: JSON lacks %s" % (name, k))
    for k in ("p50", "p90", "p99", "p999", "max"):
        check(k in j.get("latency_ms", {}), "%s: latency_ms lacks %s" % (
            name, k))
    for k in ("cores", "kernel", "openssl", "softhsm2"):
        check(k in j.get("machine", {}), "%s: machine lacks %s" % (name, k))
    check(j.get("requests_per_second", 0) > 0, "%s: zero throughput" % name)
    check(j.get("errors") == errors, "%s: %s errors" % (name, j.get("errors")))
    lat = j.get("latency_ms", {})
    check(0 < lat.get("p50", 0) <= lat.get("p99", 0) <= lat.get("max", 0),
          "%s: percentiles out of order: %s" % (name, lat))


subprocess.run([CARIMBO, "init", "--demo", STATE], check=True,
               capture_output=True, timeout=120)
srv = subprocess.Popen([CARIMBO, "serve", "-c", CONF, "--listen",
                        "127.0.0.1:0"], stdout=subprocess.PIPE,
                       stderr=open(os.path.join(TMP, "server.log"), "wb"))
try:
    line = srv.stdout.readline().decode()
    m = re.match(r"listening on (127\.0\.0\.1:\d+)", line)
    if not m:
        raise SystemExit("server did not start: %r" % line)
    url = "http://%s/" % m.group(1)

    j, out = bench("closed", "--url", url, "--connections", "4",
                   "--pipeline", "2", "--duration", "2", "--digests",
                   "sha256,sha384,sha512", "--cert-req", "mixed",
                   "--sample", "0.25", "-c", CONF)
    headline("closed", j)
    if j:
        check(j["result"]["verified"] > 0, "closed: nothing fully verified")
        check(j["result"]["sent"] == j["result"]["ok"],
              "closed: sent %d, ok %d" % (j["result"]["sent"],
                                          j["result"]["ok"]))
    check("requests/s" in out and "p99.9 ms" in out, "closed: no table")

    j, _ = bench("open", "--url", url, "--connections", "8", "--rate",
                 "300", "--requests", "450", "-c", CONF)
    headline("open", j)
    if j:
        check(j["result"]["ok"] == 450, "open: %d answers" % j["result"]["ok"])
        check(250 < j["requests_per_second"] < 350,
              "open: %.1f req/s at rate 300" % j["requests_per_second"])

    j, _ = bench("ceiling", "--ceiling", "--body-size", "1500",
                 "--connections", "8", "--pipeline", "4", "--duration", "1")
    headline("ceiling", j)
    if j:
        check(j.get("body_size") == 1500, "ceiling: body_size")

    # Its answers behind durable writes (the ledger contract's floor): a
    # write per turn at most, so never more writes than answers, and the
    # file holds the zeros it wrote first, then numbered blocks.
    dfile = os.path.join(STATE, "ledger", "durable.blk")
    j, out = bench("durable", "--ceiling", "--body-size", "1500",
                   "--connections", "8", "--duration", "1",
                   "--durable", dfile, "--durable-depth", "2")
    headline("durable", j)
    if j:
        w = j.get("durable_writes", 0)
        check(j.get("durable_depth") == 2, "durable: depth %s" %
              j.get("durable_depth"))
        check(0 < w <= j["result"]["ok"], "durable: %s writes for %d "
              "answers" % (w, j["result"]["ok"]))
        check("writes" in out, "durable: the table does not say so")
        with open(dfile, "rb") as f:
            blob = f.read()
        check(len(blob) == 256 * 4096, "durable: file of %d bytes" % len(blob))
        check(blob.startswith(b"carimbo bench --durable scratch file\n"),
              "durable: block 0 lacks the mark: %r" % blob[:40])
        seqs = [int.from_bytes(blob[o:o + 8], "little")
                for o in range(4096, len(blob), 4096)]
        # Block k (1 to 255) holds the last write numbered k modulo 255.
        check(all(q == 0 or ((q - 1) % 255 == k and q <= w)
                  for k, q in enumerate(seqs)) and max(seqs) == w,
              "durable: blocks %s for %d writes" % (seqs[:8], w))
    # One signature beside each write (--sign -c CONF, one signing thread
    # on the demo key): the answers come, with as many signatures as
    # writes and none failed.
    j, out = bench("dursign", "--ceiling", "--body-size", "1500",
                   "--connections", "1", "--duration", "0.5",
                   "--durable", dfile, "--sign", "-c", CONF)
    headline("dursign", j)
    if j:
        w = j.get("durable_writes", 0)
        check(j.get("ceiling") == "durable+sign", "dursign: ceiling %r" %
              j.get("ceiling"))
        check(j["result"]["ok"] > 0 and 0 < w <= j["result"]["ok"] and
              j.get("signatures") == w and j.get("sign_errors") == 0,
              "dursign: %s answers, %s writes, %s signatures, %s errors" % (
                  j["result"]["ok"], w, j.get("signatures"),
                  j.get("sign_errors")))
        check('key "tsa"' in j.get("sign_key", ""), "dursign: key %r" %
              j.get("sign_key"))
        check("%d signatures, 0 errors" % w in out,
              "dursign: the table does not say so: %s" % out[-400:])
    # A key the token lacks, a PIN it refuses: exit 1 before any load,
    # saying which (the configuration's relative paths are the state's).
    with open(CONF) as f:
        conf_text = f.read()
    with open(os.path.join(STATE, "wrong-pin"), "w") as f:
        f.write("0000\n")
    os.chmod(os.path.join(STATE, "wrong-pin"), 0o600)
    for what, line, want in (
            ("no such key", "key_label = no-such-key",
             b'key "no-such-key": no session'),
            ("wrong PIN", "pin_file = wrong-pin", b"CKR_PIN_INCORRECT")):
        bad = os.path.join(STATE, "bad-sign.conf")
        with open(bad, "w") as f:
            f.write(re.sub(r"(?m)^%s = .*$" % line.split()[0], line,
                           conf_text))
        p = subprocess.run([CARIMBO, "bench", "--ceiling", "--body-size",
                            "1", "--durable", dfile, "--duration", "0.3",
                            "--sign", "-c", bad], capture_output=True,
                           timeout=30)
        check(p.returncode == 1 and want in p.stderr and
              b"requests/s" not in p.stdout,
              "dursign, %s: exit %d, %r" % (what, p.returncode,
                                            p.stderr[-400:]))
    # The token failing in the middle of a run (tests/tools/p11fault.c):
    # each failure counted, the run fails and says so.
    fault = os.path.join(os.path.dirname(os.path.abspath(CARIMBO)), "tests",
                         "p11fault.so")
    check(os.path.exists(fault), "%s is missing: make test builds it" %
          fault)
    if os.path.exists(fault):
        ctlf = os.path.join(TMP, "p11fault.ctl")
        bad = os.path.join(STATE, "bad-sign.conf")
        with open(bad, "w") as f:
            f.write(re.sub(r"(?m)^pkcs11_module = .*$",
                           "pkcs11_module = " + fault, conf_text))
        p = subprocess.Popen([CARIMBO, "bench", "--ceiling", "--body-size",
                              "1", "--durable", dfile, "--duration", "2.5",
                              "--sign", "-c", bad],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=dict(os.environ, P11FAULT_CTL=ctlf))
        # The first progress line: the key has signed its check by then.
        first = p.stderr.readline()
        with open(ctlf, "w") as f:
            f.write("device_error\n")
        out, err_ = p.communicate(timeout=30)
        m = re.search(rb"the token failed (\d+) signatures", err_)
        check(b"req/s" in first and p.returncode == 1 and m is not None and
              int(m.group(1)) > 0 and b"CKR_DEVICE_ERROR" in err_,
              "dursign, token failing: exit %d, %r ... %r" % (
                  p.returncode, first, err_[-300:]))
        os.unlink(bad)

    # Anything else is not overwritten (it sits beside the ledger).
    other = os.path.join(STATE, "ledger", "not-scratch")
    with open(other, "wb") as f:
        f.write(b"CRBL precious")
    p = subprocess.run([CARIMBO, "bench", "--ceiling", "--body-size", "1",
                        "--durable", other, "--duration", "0.2"],
                       capture_output=True, timeout=10)
    with open(other, "rb") as f:
        check(p.returncode != 0 and f.read() == b"CRBL precious" and
              b"not overwritten" in p.stderr,
              "durable: a foreign file: exit %d, %r" % (p.returncode,
                                                         p.stderr))
    for bad in (["--durable", dfile, "--url", url],
                ["--ceiling", "--body-size", "1", "--durable-depth", "2"],
                ["--ceiling", "--body-size", "1", "--durable", dfile,
                 "--durable-depth", "9"],
                ["--ceiling", "--body-size", "1", "--durable", dfile,
                 "--sign"],
                ["--ceiling", "--body-size", "1", "--sign", "-c", CONF]):
        p = subprocess.run([CARIMBO, "bench", *bad], capture_output=True,
                           timeout=10)
        check(p.returncode == 2, "durable usage %s: exit %d" % (
            bad, p.returncode))
    p = subprocess.run([CARIMBO, "bench", "--ceiling", "--body-size", "1",
                        "--durable", os.path.join(TMP, "no", "such", "f"),
                        "--duration", "0.2"], capture_output=True, timeout=10)
    check(p.returncode != 0 and b"no/such/f" in p.stderr,
          "durable: unwritable file: exit %d, %r" % (p.returncode, p.stderr))

    # The responder alone, for another load generator (wrk-compare.sh):
    # every POST gets the body size asked for, pipelined too, until SIGTERM.
    so = subprocess.Popen([CARIMBO, "bench", "--ceiling", "--body-size",
                           "777", "--serve-only"], stdout=subprocess.PIPE)
    line = so.stdout.readline().decode()
    m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
    check(m is not None, "serve-only: %r" % line)
    if m:
        s = socket.create_connection(("127.0.0.1", int(m.group(1))),
                                     timeout=10)
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                  b"\r\nabc" * 2)
        got = b""
        while got.count(b"HTTP/1.1 200") < 2 or len(got) < 2 * 777:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        s.close()
        bodies = re.findall(rb"Content-Length: (\d+)", got)
        check(bodies == [b"777", b"777"], "serve-only: two pipelined "
              "answers of 777 bytes: %r" % bodies)
        # Requests it cannot frame: the connection is closed, unanswered
        # (a body over 1 MiB, a negative length, a head over 8 KiB).
        for bad in (b"POST / HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n",
                    b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                    b"POST / HTTP/1.1\r\nX: " + b"a" * 9000):
            s = socket.create_connection(("127.0.0.1", int(m.group(1))),
                                         timeout=10)
            s.sendall(bad)
            got = b""
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    got += chunk
            except ConnectionResetError:
                pass
            s.close()
            check(got == b"", "serve-only: %r... answered %r" % (
                bad[:40], got[:40]))
    so.send_signal(signal.SIGTERM)
    check(so.wait(timeout=10) == 0, "serve-only: exit 0 on SIGTERM")

    # The same behind durable writes: the answer comes, and it says how
    # many writes it made when it stops.
    so = subprocess.Popen([CARIMBO, "bench", "--ceiling", "--body-size",
                           "5", "--serve-only", "--durable", dfile],
                          stdout=subprocess.PIPE)
    line = so.stdout.readline().decode()
    m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
    check(m is not None, "serve-only durable: %r" % line)
    if m:
        for _ in range(3):
            got = exchange_raw(int(m.group(1)), b"POST / HTTP/1.1\r\n"
                               b"Host: x\r\nContent-Length: 0\r\n\r\n")
            check(got.startswith(b"HTTP/1.1 200") and
                  got.endswith(b"\r\n\r\n00000"),
                  "serve-only durable: %r" % got)
    so.send_signal(signal.SIGTERM)
    rest = so.stdout.read().decode()
    check(so.wait(timeout=10) == 0, "serve-only durable: exit on SIGTERM")
    m = re.search(r"durable writes (\d+)", rest)
    check(m is not None and int(m.group(1)) == 3,
          "serve-only durable: %r (3 requests one by one: 3 writes)" % rest)

    j, out = bench("compare", "--compare", url, url, "--phases", "2",
                   "--connections", "2", "--duration", "1", "-c", CONF)
    if j:
        check(j.get("ratio", 0) > 0, "compare: ratio %s" % j.get("ratio"))
        check(j.get("errors") == 0, "compare: errors")
    check("ratio B/A" in out, "compare: no ratio in the table")

    # /ers: EvidenceRecords read by bench/ers.c, half of them verified to
    # the round token.  The server serves /ers: an error there is a
    # failure, never a reason to leave the load check out.
    p = subprocess.run([CARIMBO, "bench", "--url", url + "ers",
                        "--requests", "1", "--quiet"], capture_output=True,
                       timeout=30)
    out = (p.stdout + p.stderr).decode(errors="replace")
    check(p.returncode == 0 and "http_status" not in out,
          "ers: one request to /ers: exit %d: %s" % (p.returncode,
                                                      out[-800:]))
    if p.returncode == 0:
        j, _ = bench("ers", "--url", url + "ers", "--connections", "8",
                     "--pipeline", "2", "--requests", "400", "--digests",
                     "sha256,sha512", "--sample", "0.5", "-c", CONF)
        headline("ers", j)
        if j:
            check(j["result"]["verified"] > 100,
                  "ers: %d verified" % j["result"]["verified"])

    # Wrong answers are counted, not served as throughput.
    j, _ = bench("notfound", "--url", url + "no-such-path", "--requests",
                 "20", want_rc=1)
    if j:
        check(j["errors"] == 20 and j["result"]["ok"] == 0,
              "notfound: %s" % j.get("result", {}).get("errors_by_kind"))
        check(j["result"]["errors_by_kind"]["http_status"] == 20,
              "notfound: not counted as http_status")

    p = subprocess.run([CARIMBO, "bench", "--url", "http://192.0.2.1:80/",
                        "--requests", "1"], capture_output=True, timeout=10)
    check(p.returncode == 2, "a non-loopback target was not refused")
finally:
    srv.send_signal(signal.SIGTERM)
    try:
        srv.wait(timeout=20)
    except subprocess.TimeoutExpired:
        srv.kill()
    subprocess.run(["rm", "-rf", TMP])

if failures:
    print("bench.py: %d check(s) failed" % len(failures))
    sys.exit(1)
print("bench.py: all checks passed")
