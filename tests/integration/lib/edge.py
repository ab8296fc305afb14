# SPDX-License-Identifier: ISC
"""The deployment of doc/scale-out.md on loopback ports, for the tests
behind HAProxy (haproxy.py, haproxy_clock.py): two units and
conf/haproxy.cfg as shipped.

  units   unit 1 is `carimbo init --demo`; unit 2's key is made on the
          token by `carimbo ca issue --keygen-on-token --unit-id 2` and
          certified by unit 1's TSA CA, and its state is a copy (its own
          ledger, serials and unit id 2; the demo's copied token holds
          both keys, a real unit 2 has its own token).  Both have
          proxy_from = 127.0.0.2 (HAProxy's source address) and
          stop_notice_seconds, and witness each other (their fetches,
          from 127.0.0.1, carry no PROXY header).
  edge    the service's TLS certificate (self-signed here), carimbo's
          user CA and root as the client CA, their CRLs; a client
          certificate of the user CA (good), one revoked in its CRL
          (revoked), and one of another CA altogether (other).

Edge(tmp, check) makes all of it in tmp; start_unit(), start_haproxy(),
stats() and wait_status() run it; stop() ends what it started.
"""
import calendar
import csv
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from net import free_port  # noqa: E402  (this folder)

CARIMBO = os.environ.get("CARIMBO", "build/carimbo")
HERE = os.path.dirname(os.path.abspath(__file__))
HAPROXY_CFG = os.path.join(HERE, "..", "..", "..", "conf", "haproxy.cfg")


def run(*args, **kw):
    return subprocess.run(list(args), check=True, capture_output=True,
                          timeout=120, **kw)


class Edge:
    def __init__(self, tmp, check):
        if shutil.which("haproxy") is None:
            print("no haproxy (make deps installs it)")
            sys.exit(1)
        self.tmp, self.check = tmp, check
        self.units, self.hap = {}, None
        self.s1, self.s2 = (os.path.join(tmp, "unit%d" % n) for n in (1, 2))
        self.c1, self.c2 = (os.path.join(s, "carimbo.conf") for s in
                            (self.s1, self.s2))
        self._units()
        self._edge()

    def _units(self):
        s1, s2, c1, c2 = self.s1, self.s2, self.c1, self.c2
        run(CARIMBO, "init", "--demo", s1)
        run(CARIMBO, "ca", "issue", "-c", c1, "--profile", "tsa",
            "--unit-id", "2", "--keygen-on-token", "--key-label", "tsa2",
            "--subject", "/C=PT/O=carimbo demo/CN=carimbo demo TSU 2",
            "--out", os.path.join(s1, "tsa2.pem"))
        shutil.copytree(s1, s2, symlinks=True)
        with open(os.path.join(s1, "tsa-chain.pem")) as f:
            chain1 = f.read()
        tsa_ca = chain1[chain1.index("-----END CERTIFICATE-----") + 26:]
        with open(os.path.join(s2, "tsa2-chain.pem"), "w") as f:
            f.write(open(os.path.join(s1, "tsa2.pem")).read() + tsa_ca)
        self.untrusted = os.path.join(self.tmp, "untrusted.pem")
        with open(self.untrusted, "w") as f:
            f.write(chain1 + open(os.path.join(s2, "tsa2-chain.pem")).read())
        self.root = os.path.join(s1, "root.pem")
        self.p1, self.p2, self.ph, self.pt, self.ps = (free_port() for _ in
                                                       range(5))
        common = ("\nproxy_from = 127.0.0.2\nstop_notice_seconds = 3\n"
                  "anchor_seconds = 1\nwitness_seconds = 1\n")
        with open(c1, "a") as f:
            f.write(common + "witness = http://127.0.0.1:%d\n" % self.p2)
        with open(c2, "a") as f:
            f.write(common + "witness = http://127.0.0.1:%d\n" % self.p1 +
                    "unit_id = 2\nkey_label = tsa2\n"
                    "tsa_chain = tsa2-chain.pem\n")

    def client_cert(self, name):
        key, csr, crt = (os.path.join(self.tmp, name + x) for x in
                         (".key", ".csr", ".crt"))
        run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-subj",
            "/C=PT/CN=e-service %s" % name, "-keyout", key, "-out", csr)
        out = run(CARIMBO, "ca", "issue", "-c", self.c1, "--profile",
                  "normalised", "--csr", csr, "--out", crt).stdout.decode()
        return crt, key, out.split()[0]

    def _edge(self):
        tmp, c1 = self.tmp, self.c1
        self.tls = os.path.join(tmp, "tls.pem")
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
            "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", os.path.join(tmp, "tls.key"), "-out",
            os.path.join(tmp, "tls.crt"))
        with open(self.tls, "w") as f:
            f.write(open(os.path.join(tmp, "tls.crt")).read() +
                    open(os.path.join(tmp, "tls.key")).read())
        self.client_ca = os.path.join(tmp, "client-ca.pem")
        run(CARIMBO, "ca", "export-chain", "-c", c1, "--issuer", "user",
            "--out", self.client_ca)
        if open(self.root).read() not in open(self.client_ca).read():
            with open(self.client_ca, "a") as f:
                f.write(open(self.root).read())
        self.good = self.client_cert("good")
        self.revoked = self.client_cert("revoked")
        run(CARIMBO, "ca", "revoke", "-c", c1, self.revoked[2], "--reason",
            "keyCompromise")
        self.crl = os.path.join(tmp, "crl.pem")
        with open(self.crl, "w") as f:
            for who in ("user", "root"):
                out = os.path.join(tmp, who + ".crl")
                run(CARIMBO, "ca", "crl", "-c", c1, "--issuer", who, "--out",
                    out, "--pem")
                f.write(open(out).read())
        # Another CA altogether: its own self-signed root and a client.
        self.other = (os.path.join(tmp, "other.crt"),
                      os.path.join(tmp, "other.key"))
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
            "/C=PT/CN=e-service other", "-keyout", self.other[1], "-out",
            self.other[0])

    def start_unit(self, n, *extra):
        """carimbo serve for unit n (extra: more options), once listening."""
        conf, port = (self.c1, self.p1) if n == 1 else (self.c2, self.p2)
        p = subprocess.Popen([CARIMBO, "serve", "-c", conf, "--listen",
                              "127.0.0.1:%d" % port, *extra],
                             stdout=subprocess.PIPE,
                             stderr=open(self.unit_log(n), "ab"))
        line = p.stdout.readline().decode()
        self.check(line.startswith("listening on"), "unit %d: %r" % (n, line))
        self.units[n] = p
        return p

    def unit_log(self, n):
        return os.path.join(self.tmp, "unit%d.log" % n)

    def start_haproxy(self):
        env = dict(os.environ, CARIMBO_UNIT1="127.0.0.1:%d" % self.p1,
                   CARIMBO_UNIT2="127.0.0.1:%d" % self.p2,
                   CARIMBO_HTTP_BIND="127.0.0.1:%d" % self.ph,
                   CARIMBO_TLS_BIND="127.0.0.1:%d" % self.pt,
                   CARIMBO_TLS_CRT=self.tls,
                   CARIMBO_CLIENT_CA=self.client_ca,
                   CARIMBO_CLIENT_CRL=self.crl,
                   CARIMBO_STATS_BIND="127.0.0.1:%d" % self.ps,
                   CARIMBO_LOG="stdout", CARIMBO_SOURCE="127.0.0.2")
        self.hlog = os.path.join(self.tmp, "haproxy.log")
        self.hap = subprocess.Popen(["haproxy", "-db", "-f", HAPROXY_CFG],
                                    env=env, stdout=open(self.hlog, "wb"),
                                    stderr=subprocess.STDOUT)
        return self.hap

    def stats(self):
        """{server: status} from the stats page's CSV."""
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/;csv" %
                                        self.ps, timeout=2) as r:
                text = r.read().decode().lstrip("# ")
        except OSError:
            return {}
        return {row["svname"]: row["status"] for row in
                csv.DictReader(io.StringIO(text)) if row["pxname"] == "units"}

    def wait_status(self, server, want, secs):
        """Seconds until server's status starts with want, or None."""
        t = time.monotonic()
        while time.monotonic() - t < secs:
            if self.stats().get(server, "").startswith(want):
                return time.monotonic() - t
            time.sleep(0.1)
        return None

    def stop(self):
        """SIGTERM to the units and HAProxy; kill what does not stop."""
        procs = list(self.units.values()) + ([self.hap] if self.hap else [])
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()


# --- answers: DER read here, sharing no code with the server ----------------
def der_len(b, i):
    """(length, offset of the content) of the DER item whose tag is at i."""
    n = b[i + 1]
    if n < 0x80:
        return n, i + 2
    k = n & 0x7f
    return int.from_bytes(b[i + 2:i + 2 + k], "big"), i + 2 + k


def items(b):
    i = 0
    while i < len(b):
        n, o = der_len(b, i)
        yield b[i:o + n]
        i = o + n


TSTINFO_OID = bytes.fromhex("060b2a864886f70d0109100104")


def tst_fields(item):
    """(serial, genTime as POSIX seconds) of the first TSTInfo in item."""
    i = item.index(TSTINFO_OID) + len(TSTINFO_OID)
    _, i = der_len(item, i)             # [0] EXPLICIT
    _, i = der_len(item, i)             # OCTET STRING
    _, i = der_len(item, i)             # TSTInfo SEQUENCE
    for _ in range(3):                  # version, policy, messageImprint
        n, o = der_len(item, i)
        i = o + n
    n, o = der_len(item, i)             # serialNumber
    serial = int.from_bytes(item[o:o + n], "big")
    i = o + n
    n, o = der_len(item, i)             # genTime, RFC 3161 2.4.2
    t = item[o:o + n].decode().rstrip("Z")
    whole, _, frac = t.partition(".")
    gen = calendar.timegm(time.strptime(whole, "%Y%m%d%H%M%S"))
    return serial, gen + (float("0." + frac) if frac else 0.0)


def serial_of(item):
    """The serial of the (first) TSTInfo inside item."""
    return tst_fields(item)[0]


def pki_status(resp):
    """
    (status, failInfo bits) of a TimeStampResp (RFC 3161 2.4.2): the
    PKIStatus, and the failInfo's bit numbers set (timeNotAvailable 14).
    """
    _, i = der_len(resp, 0)             # TimeStampResp SEQUENCE
    n, i = der_len(resp, i)             # PKIStatusInfo SEQUENCE
    end = i + n
    n, o = der_len(resp, i)             # status INTEGER
    status = int.from_bytes(resp[o:o + n], "big")
    i, bits = o + n, set()
    while i < end:
        n, o = der_len(resp, i)
        if resp[i] == 0x03:             # failInfo BIT STRING
            for k, byte in enumerate(resp[o + 1:o + n]):
                bits |= {8 * k + j for j in range(8) if byte & 0x80 >> j}
        i = o + n
    return status, bits
