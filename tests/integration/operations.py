#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# doc/operations.md, run: every fenced command block in it carries a mark
# ("sh run", "sh run server", "sh run stopped", "sh norun-root",
# "sh norun-systemd", "sh norun-clock"), and the blocks marked run are run
# in order by bash (set -e), each in a shell that starts from the
# environment the last one left (an export carries over), against a
# temporary root: /var/lib/carimbo, /etc/carimbo, /var/backups and
# /tmp/carimbo* are rewritten under it, the ports 8318 and 8319 into
# free ones, `runuser -u carimbo --` dropped and `chown -R carimbo:carimbo`
# given the test's user (the test's user stands in for carimbo), and
# `carimbo` is this build's.  /etc/carimbo/carimbo.conf is the package's,
# conf/carimbo.conf, installed as the package installs it.  Before a
# block marked "server" the test starts `carimbo serve -c
# /etc/carimbo/carimbo.conf` as carimbo.service would (and waits for its
# listeners); before one marked "stopped" it stops it with SIGTERM, which
# must give exit status 0.  A block that fails fails the test, with its
# output.  Beside the blocks: conf/chrony.conf must pass `chronyd -p`,
# the state init made on the guide's token must hold no demo part, and
# the restored unit must go on with new serials (no repeat).
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "lib"))
from net import free_port  # noqa: E402  (tests/integration/lib)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CARIMBO = os.path.abspath(os.environ.get("CARIMBO", "build/carimbo"))
DOC = os.path.join(ROOT, "doc", "operations.md")
MARKS = {"run", "run server", "run stopped", "norun-root", "norun-systemd",
         "norun-clock"}
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("  FAIL:", what, flush=True)


def blocks(text):
    """(line, mark, body) of each fenced block."""
    out, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        m = re.match(r"^```(.*)$", lines[i])
        if m:
            start, info, body = i + 1, m.group(1).strip(), []
            i += 1
            while i < len(lines) and lines[i] != "```":
                body.append(lines[i])
                i += 1
            check(i < len(lines), "line %d: a block never closed" % start)
            lang, _, mark = info.partition(" ")
            check(lang == "sh" and mark in MARKS,
                  "line %d: block marked %r, not \"sh\" and one of %s" %
                  (start, info, sorted(MARKS)))
            out.append((start, mark, "\n".join(body) + "\n"))
        i += 1
    return out


tmp = tempfile.mkdtemp(prefix="carimbo-ops-")
fake = os.path.join(tmp, "root")
ports = {"8318": str(free_port()), "8319": str(free_port())}


def rewrite(s):
    """The guide's paths, ports and user into the test's, in one pass."""
    subst = {"/var/lib/carimbo": fake + "/var/lib/carimbo",
             "/etc/carimbo": fake + "/etc/carimbo",
             "/var/backups": fake + "/var/backups",
             "/tmp/carimbo": fake + "/tmp/carimbo",
             "runuser -u carimbo -- ": "",
             "chown -R carimbo:carimbo": "chown -R %d:%d" % (os.getuid(),
                                                             os.getgid()),
             "127.0.0.1:8318": "127.0.0.1:" + ports["8318"],
             "127.0.0.1:8319": "127.0.0.1:" + ports["8319"]}
    return re.sub("|".join(re.escape(k) for k in subst),
                  lambda m: subst[m.group(0)], s)


# The package's install, in the fake root: the config a conffile of
# conf/carimbo.conf, the state folder 0700 (tmpfiles.d), carimbo on PATH.
for d in ("etc/carimbo", "var/lib", "tmp", "bin"):
    os.makedirs(os.path.join(fake, d))
os.mkdir(os.path.join(fake, "var/lib/carimbo"), 0o700)
with open(os.path.join(ROOT, "conf", "carimbo.conf")) as f:
    conf_text = f.read()
check(re.search(r"^state_dir = /var/lib/carimbo$", conf_text, re.M),
      "conf/carimbo.conf does not set state_dir = /var/lib/carimbo")
CONF = os.path.join(fake, "etc/carimbo/carimbo.conf")
with open(CONF, "w") as f:
    f.write(rewrite(conf_text))
os.symlink(CARIMBO, os.path.join(fake, "bin", "carimbo"))
env_file = os.path.join(tmp, "env")
env = dict(os.environ, PATH=os.path.join(fake, "bin") + ":" +
           os.environ.get("PATH", ""))
env.pop("SOFTHSM2_CONF", None)
with open(env_file, "w") as f:
    f.write("")

srv = None
srv_log = open(os.path.join(tmp, "server.log"), "ab")


def start():
    global srv
    if srv is not None:
        return
    srv = subprocess.Popen([CARIMBO, "serve", "-c", CONF],
                           stdout=subprocess.PIPE, stderr=srv_log, env=env)
    for want in ("listening on 127.0.0.1:" + ports["8318"],
                 "admin listening on 127.0.0.1:" + ports["8319"]):
        line = srv.stdout.readline().decode().strip()
        if line != want:
            srv.kill()
            srv.wait()
            srv_log.flush()
            with open(os.path.join(tmp, "server.log"), errors="replace") as f:
                log = f.read()[-2000:]
            sys.exit("FAIL: the server of /etc/carimbo/carimbo.conf said "
                     "%r, not %r:\n%s" % (line, want, log))


def stop():
    global srv
    if srv is None:
        return
    srv.send_signal(signal.SIGTERM)
    try:
        rc = srv.wait(30)
    except subprocess.TimeoutExpired:
        srv.kill()
        rc = srv.wait()
    check(rc == 0, "the server exited %s on SIGTERM" % rc)
    srv = None


def run_block(line, body):
    script = ("set -e\n. %s\n%s\nexport -p >%s\n" %
              (env_file, rewrite(body), env_file))
    p = subprocess.run(["bash", "-c", script], capture_output=True,
                       text=True, env=env, cwd=tmp, timeout=300)
    check(p.returncode == 0, "doc/operations.md:%d: exit %d\n%s\n%s%s" %
          (line, p.returncode, rewrite(body), p.stdout[-2000:],
           p.stderr[-2000:]))
    return p


with open(DOC) as f:
    bl = blocks(f.read())
ran = {}
outputs = {}
try:
    for line, mark, body in bl:
        ran[mark] = ran.get(mark, 0) + 1
        if not mark.startswith("run"):
            continue
        if mark == "run server":
            start()
        elif mark == "run stopped":
            stop()
        p = run_block(line, body)
        outputs[line] = p.stdout
        if failures:
            break
finally:
    stop()

# What the blocks said, judged beside their exit status.
out = "\n".join(outputs.values())
check(ran.get("run", 0) + ran.get("run server", 0) +
      ran.get("run stopped", 0) >= 12, "only %r blocks run" % ran)
check(out.count("Verification: OK") == 2,
      "two stamps verified by openssl ts: %d" % out.count("Verification: OK"))
check('{"status":"ok"}' in out, "no terse public /health in the output")
check(re.search(r'^carimbo_build_info\{version="[^"]+",commit=', out, re.M),
      "no carimbo_build_info from the admin /metrics")
check(re.search(r"^carimbo_tokens_total 1$", out, re.M),
      "carimbo_tokens_total is not 1 after one stamp")
check(re.search(r"^clock-\d{4}-\d\d-\d\d\.html$", out, re.M),
      "no dated clock report listed")
check("RESULT: OK" in out, "clock audit did not say OK")
check(out.count("\nOK\n") >= 2, "ledger verify did not say OK twice")

state = os.path.join(fake, "var/lib/carimbo")
if not failures:
    # init on the guide's token: nothing of the demo.
    with open(os.path.join(state, "carimbo.conf")) as f:
        made = f.read()
    check("clock_mode = strict" in made and "token_label = carimbo" in made
          and "pin_file = %s/pin" % state in made,
          "init's carimbo.conf: %r" % made)
    check(not os.path.exists(os.path.join(state, "so-pin")),
          "init wrote a so-pin: a demo part")
    subj = subprocess.run(["openssl", "x509", "-noout", "-subject", "-in",
                           os.path.join(state, "tsa-chain.pem")],
                          capture_output=True, text=True).stdout
    check("O = Correio Exemplo" in subj and "demo" not in subj,
          "TSA certificate: %r" % subj)
    # The restored unit went on: two tokens, two serials, no repeat.
    p = subprocess.run([CARIMBO, "ledger", "verify",
                        os.path.join(state, "ledger")], capture_output=True,
                       text=True)
    m = re.search(r"serials\s+(\d+) \.\. (\d+)", p.stdout)
    check(p.returncode == 0 and m is not None and m.group(1) != m.group(2),
          "ledger after the restore: %r" % p.stdout)

# The example chrony.conf, as chronyd reads it.
if shutil.which("chronyd") is None:
    check(False, "no chronyd (package chrony, make deps)")
else:
    p = subprocess.run(["chronyd", "-p", "-f",
                        os.path.join(ROOT, "conf", "chrony.conf")],
                       capture_output=True, text=True)
    check(p.returncode == 0 and len(re.findall(r"^server \S+ .*\bnts\b",
                                               p.stdout, re.M)) >= 4 and
          "ntsdumpdir" in p.stdout,
          "chronyd -p conf/chrony.conf: %d %s%s" % (p.returncode,
                                                   p.stdout[-500:],
                                                   p.stderr[-500:]))

if failures:
    print("%d failures; files in %s" % (len(failures), tmp))
    sys.exit(1)
shutil.rmtree(tmp)
print("operations.py: %s blocks of doc/operations.md; the run ones passed" %
      ", ".join("%d %s" % (n, m) for m, n in sorted(ran.items())))
