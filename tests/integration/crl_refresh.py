#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# `carimbo ca crl --refresh` (ca/refresh.c), with the CA's clock moved by
# libfaketime: far from nextUpdate it signs nothing and says so; within
# the margin (ca.conf crl_refresh_hours, or --margin) it signs each CA's
# next CRL, with a higher cRLNumber and a later nextUpdate, that `openssl
# crl -verify` accepts under the CA's certificate and that a running
# server serves at once; a CA whose key does not open makes it exit 1 and
# changes nothing.
import datetime
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request

CARIMBO = os.environ.get("CARIMBO", "build/carimbo")
LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
TMP = tempfile.mkdtemp(prefix="carimbo-crlrefresh-")
STATE = os.path.join(TMP, "state")
CONF = os.path.join(STATE, "carimbo.conf")
PUB = os.path.join(STATE, "ca", "pub")
CAS = ("root", "tsa", "user")
failures = []
if not os.path.exists(LIB):
    print("FAIL: %s absent (make deps installs faketime)" % LIB)
    sys.exit(1)


def check(cond, what):
    if not cond:
        failures.append(what)
        print("  FAIL:", what, flush=True)
    return cond


def env_at(when):
    e = dict(os.environ, LD_PRELOAD=LIB, FAKETIME_DONT_FAKE_MONOTONIC="1",
             FAKETIME="@" + when.strftime("%Y-%m-%d %H:%M:%S"))
    e["ASAN_OPTIONS"] = e.get("ASAN_OPTIONS", "") + \
        ":verify_asan_link_order=0"
    return e


def refresh(*args, when=None):
    return subprocess.run([CARIMBO, "ca", "crl", "-c", CONF, "--refresh",
                           *args], capture_output=True, text=True,
                          timeout=120, env=env_at(when) if when else None)


def crl(name):
    """(cRLNumber, nextUpdate, DER) of the published CRL of name."""
    path = os.path.join(PUB, "crl", name + ".crl")
    out = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", path,
                          "-noout", "-crlnumber", "-nextupdate"],
                         capture_output=True, text=True).stdout
    num = int(re.search(r"crlNumber=(?:0x)?([0-9A-Fa-f]+)", out).group(1), 16)
    nu = datetime.datetime.strptime(re.search(r"nextUpdate=(.*)", out)
                                    .group(1).strip(), "%b %d %H:%M:%S %Y GMT")
    return num, nu, open(path, "rb").read()


def verified(name):
    ca = os.path.join(TMP, name + ".pem")
    subprocess.run(["openssl", "x509", "-inform", "DER", "-in",
                    os.path.join(PUB, "ca", name + ".crt"), "-out", ca],
                   check=True, capture_output=True)
    p = subprocess.run(["openssl", "crl", "-inform", "DER", "-in",
                        os.path.join(PUB, "crl", name + ".crl"), "-noout",
                        "-CAfile", ca, "-verify"], capture_output=True,
                       text=True)
    return p.returncode == 0 and "verify OK" in p.stdout + p.stderr


try:
    subprocess.run([CARIMBO, "init", "--demo", STATE], check=True,
                   capture_output=True, timeout=120)
    first = {n: crl(n) for n in CAS}
    nu = first["user"][1]

    # Now: 7 days left, more than the 72 h margin.  Nothing signed.
    p = refresh()
    check(p.returncode == 0, "far: exit %d %s" % (p.returncode, p.stderr))
    for n in CAS:
        check(re.search(r"^%s: CRL %d kept: nextUpdate .* \(margin 72 h\)$"
                        % (n, first[n][0]), p.stdout, re.M) is not None,
              "far: %s not kept: %r" % (n, p.stdout))
        check(crl(n) == first[n], "far: %s CRL changed" % n)

    # Two hours before nextUpdate: every CA's CRL is signed again.
    near = nu - datetime.timedelta(hours=2)
    p = refresh(when=near)
    check(p.returncode == 0, "near: exit %d %s" % (p.returncode, p.stderr))
    second = {}
    for n in CAS:
        second[n] = crl(n)
        num, nxt, _ = second[n]
        check(num == first[n][0] + 1, "near: %s cRLNumber %d after %d" %
              (n, num, first[n][0]))
        check(abs((nxt - (near + datetime.timedelta(days=7)))
                  .total_seconds()) < 120,
              "near: %s nextUpdate %s, not %s + 7 days" % (n, nxt, near))
        check(verified(n), "near: openssl crl -verify %s" % n)
        check(re.search(r"^%s: CRL %d signed: .*CRL %d's was .*, in [12] h$" %
                        (n, num, first[n][0]), p.stdout, re.M) is not None,
              "near: %s: %r" % (n, p.stdout))
    # The same moment again: the new CRLs are far from their nextUpdate.
    p = refresh(when=near)
    check(p.returncode == 0 and p.stdout.count(" kept: ") == 3 and
          all(crl(n) == second[n] for n in CAS),
          "near, again: %r" % p.stdout)

    # Past nextUpdate, one CA only (--issuer).
    late = second["tsa"][1] + datetime.timedelta(hours=5)
    p = refresh("--issuer", "tsa", when=late)
    check(p.returncode == 0 and re.search(r"^tsa: CRL %d signed: .* past "
                                          r"by 5 h$" % (second["tsa"][0] + 1),
                                          p.stdout, re.M) is not None and
          "root:" not in p.stdout and crl("root") == second["root"],
          "late, --issuer tsa: %r" % p.stdout)

    # The margin: --margin, then ca.conf's crl_refresh_hours.
    p = refresh("--issuer", "root", "--margin", "200", when=near)
    check(p.returncode == 0 and crl("root")[0] == second["root"][0] + 1,
          "--margin 200: %r" % p.stdout)
    with open(os.path.join(STATE, "ca", "ca.conf"), "a") as f:
        f.write("crl_refresh_hours = 200\n")
    p = refresh("--issuer", "root", when=near)
    check(p.returncode == 0 and crl("root")[0] == second["root"][0] + 2 and
          "margin" not in p.stdout, "crl_refresh_hours = 200: %r" % p.stdout)

    # The server serves the new CRL without a restart.
    srv = subprocess.Popen([CARIMBO, "serve", "-c", CONF, "--listen",
                            "127.0.0.1:0"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
    try:
        m = re.match(r"listening on 127\.0\.0\.1:(\d+)",
                     srv.stdout.readline().decode())
        if check(m is not None, "server did not start"):
            url = "http://127.0.0.1:%s/crl/user.crl" % m.group(1)
            before = urllib.request.urlopen(url, timeout=10).read()
            check(before == second["user"][2], "served CRL is not the latest")
            p = refresh("--issuer", "user", "--margin", "500")
            after = urllib.request.urlopen(url, timeout=10).read()
            check(p.returncode == 0 and after == crl("user")[2] and
                  after != before, "served CRL after --refresh: %d bytes, "
                  "%r" % (len(after), p.stdout))
    finally:
        srv.terminate()
        srv.wait(timeout=30)

    # A key that does not open: exit 1, a message, no new CRL.
    pin = os.path.join(STATE, "pin")
    os.rename(pin, pin + ".away")
    before = crl("user")
    p = refresh("--issuer", "user", when=before[1] - datetime.timedelta(
        hours=1))
    os.rename(pin + ".away", pin)
    check(p.returncode == 1 and "user: CRL due not signed" in p.stderr and
          crl("user") == before, "no key: exit %d, %r" % (p.returncode,
                                                          p.stderr[-300:]))
    p = subprocess.run([CARIMBO, "ca", "crl", "-c", CONF, "--refresh",
                        "--out", os.path.join(TMP, "x.crl")],
                       capture_output=True, text=True)
    check(p.returncode == 2 and "not --out" in p.stderr,
          "--refresh --out: %d %r" % (p.returncode, p.stderr))
finally:
    shutil.rmtree(TMP, ignore_errors=True)

if failures:
    print("crl_refresh.py: %d check(s) failed" % len(failures))
    sys.exit(1)
print("crl_refresh.py: far kept, near and late signed, verified and served")
