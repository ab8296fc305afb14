#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# `carimbo check -c CONF` (tsa/serve.c serve_check_main()): a good demo
# state passes and says what it checked; each fault is refused with its
# reason and exit 1: an unknown key (file:line), a value out of range, a
# key label not on the token, a wrong PIN, a TSA certificate that is not
# the key's, a root it does not verify to.  It writes nothing of carimbo's
# in the state (serials, ledger, audit log, CA), so it can run beside a
# running server; SoftHSM2 itself rewrites its token.object at each
# login, as it does for the server's, so the token folder is left out.
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

CARIMBO = os.environ.get("CARIMBO", "build/carimbo")
TMP = tempfile.mkdtemp(prefix="carimbo-check-")
STATE = os.path.join(TMP, "state")
CONF = os.path.join(STATE, "carimbo.conf")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("  FAIL:", what, flush=True)


def run(conf):
    p = subprocess.run([CARIMBO, "check", "-c", conf], capture_output=True,
                       timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def digest(d):
    h = hashlib.sha256()
    for root, dirs, files in os.walk(d):
        dirs[:] = sorted(x for x in dirs if x != "tokens")
        for f in sorted(files):
            p = os.path.join(root, f)
            h.update(p.encode())
            with open(p, "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()


subprocess.run([CARIMBO, "init", "--demo", STATE], check=True,
               capture_output=True, timeout=120)
base = open(CONF).read()

before = digest(STATE)
rc, out, err = run(CONF)
check(rc == 0 and out.endswith("ok\n"), "good state: %d %r %r" % (rc, out,
                                                                    err))
check('key "tsa" matches the TSA certificate' in out and
      "verifies to" in out and "days left" in out,
      "good state: what it checked: %r" % out)
check(digest(STATE) == before, "check wrote in the state")


def variant(name, text):
    path = os.path.join(STATE, name)
    with open(path, "w") as f:
        f.write(text)
    return path


lines = base.count("\n")
cases = [
    ("unknown key", base + "no_such_key = 1\n",
     "carimbo-unknown.conf:%d: unknown key \"no_such_key\"" % (lines + 1)),
    ("out of range", base + "max_pipeline = 0\n", "max_pipeline"),
    ("key label", base + "key_label = nope\n", 'no key "nope"'),
    ("TSA certificate", base + "tsa_chain = root.pem\n",
     "does not match key"),
]
for what, text, want in cases:
    conf = variant("carimbo-%s.conf" % what.split()[0], text)
    rc, out, err = run(conf)
    check(rc == 1 and want in err, "%s: exit %d, %r" % (what, rc, err))

# A wrong PIN.
pin = os.path.join(STATE, "wrong-pin")
with open(pin, "w") as f:
    f.write("000000\n")
conf = variant("carimbo-pin.conf", base + "pin_file = wrong-pin\n")
rc, out, err = run(conf)
check(rc == 1 and "CKR_PIN_INCORRECT" in err, "wrong PIN: %d %r" % (rc, err))

# A root the chain does not lead to: a self-signed certificate of its own.
other = os.path.join(TMP, "other-root.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                os.path.join(TMP, "k.pem"), "-subj", "/CN=another root",
                "-days", "2", "-out", other], check=True,
               capture_output=True)
conf = variant("carimbo-root.conf", base + "root_cert = %s\n" % other)
rc, out, err = run(conf)
check(rc == 1 and "does not verify to" in err, "other root: %d %r" % (rc,
                                                                     err))
rc, _, err = run(os.path.join(STATE, "absent.conf"))
check(rc == 1 and "absent.conf" in err, "absent config: %d %r" % (rc, err))

shutil.rmtree(TMP)
if failures:
    print("%d failures" % len(failures))
    sys.exit(1)
print("check.py: all checks passed")
