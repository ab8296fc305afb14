#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# The Debian package, on this machine: `make deb` builds it (lintian must
# find no error), `dpkg -i` installs it, and the installed files are
# judged: `carimbo --version`, `systemd-analyze verify` on the units, the
# carimbo user and /var/lib/carimbo made by sysusers and tmpfiles, the
# units installed but not enabled, the example config a conffile, no key
# anywhere; carimbo-crl.timer hourly and persistent.  Then the installed
# binary, as the carimbo user, makes a demo state (`runuser -u carimbo --
# carimbo init --demo`), runs carimbo-crl.service's command on it, serves
# it on a loopback port, and answers one `openssl ts -query` that `openssl
# ts -verify` accepts.  Last, `dpkg -r` must leave only the conffile (and the
# empty state directory), and `dpkg --purge` nothing at all but what
# Debian policy keeps: the carimbo system user (files may still belong to
# it) and the password files' backups made when it was added.
#
# Root is needed (dpkg -i); without it the test is skipped.  Under the
# sanitizers it is skipped too: the package is a plain build of its own
# (build/deb), the same in both runs.  Runs are serialised machine-wide
# with a lock, as they install the one carimbo package.
import fcntl
import glob
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CARIMBO = os.environ.get("CARIMBO", os.path.join(ROOT, "build", "carimbo"))
BIN = "/usr/bin/carimbo"
UNITDIR = "/lib/systemd/system"
LOCK = "/run/lock/carimbo-package-test.lock"
# Compared before the install and after the purge (names, not contents).
WALK = ["/etc", "/usr", "/var/lib", "/opt", "/srv"]
# Not the package's: dpkg's and apt's own records, and chronyd's drift
# file, which chronyd rewrites whenever it likes.
NOWALK = ["/var/lib/dpkg", "/var/lib/apt", "/var/lib/chrony",
          "/var/lib/man-db"]
# What may appear and stay: policy keeps the system user, and adding it
# leaves the shadow tools' backups and lock file.
KEPT = {"/etc/passwd-", "/etc/group-", "/etc/shadow-", "/etc/gshadow-",
        "/etc/.pwd.lock", "/etc/subuid-", "/etc/subgid-"}

failures = []
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        failures.append(what)
        print("  FAIL:", what)


def run(*args, ok=True, **kw):
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    if ok and p.returncode != 0:
        raise SystemExit("FAIL: %s exited %d:\n%s%s" % (
            " ".join(args), p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    return p


def dpkg(*args):
    """dpkg, waiting out another frontend's lock (apt on this machine)."""
    for _ in range(60):
        p = run("dpkg", *args, ok=False)
        if p.returncode == 0 or "lock" not in p.stderr:
            break
        time.sleep(1)
    if p.returncode != 0:
        raise SystemExit("FAIL: dpkg %s exited %d:\n%s%s" % (
            " ".join(args), p.returncode, p.stdout, p.stderr))
    return p


def installed():
    p = run("dpkg-query", "-W", "-f=${db:Status-Abbrev}", "carimbo",
            ok=False)
    return p.returncode == 0 and p.stdout.strip() not in ("", "un")


def snapshot():
    seen = set()
    for top in WALK:
        for d, dirs, files in os.walk(top):
            dirs[:] = [x for x in dirs
                       if os.path.join(d, x) not in NOWALK]
            for x in dirs + files:
                seen.add(os.path.join(d, x))
    return seen


def foreign(path):
    """Another package's file (apt at work elsewhere on this machine)."""
    p = run("dpkg", "-S", path, ok=False)
    return p.returncode == 0 and not p.stdout.startswith("carimbo:")


def quiet_env():
    """The environment without the calling make's flags: `make test
    SAN=1 -j2` must not reach the package's build."""
    env = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "SAN", "B"):
        env.pop(k, None)
    return env


def build():
    t = time.monotonic()
    p = run("make", "-C", ROOT, "deb", ok=False, env=quiet_env())
    secs = time.monotonic() - t
    if p.returncode != 0:
        raise SystemExit("FAIL: make deb exited %d:\n%s%s" % (
            p.returncode, p.stdout[-4000:], p.stderr[-4000:]))
    version = open(os.path.join(ROOT, "debian", "changelog")).readline()
    version = re.match(r"carimbo \(([^)]+)\)", version).group(1)
    arch = run("dpkg", "--print-architecture").stdout.strip()
    deb = os.path.join(ROOT, "build", "deb",
                       "carimbo_%s_%s.deb" % (version, arch))
    check(os.path.isfile(deb), "make deb did not leave %s" % deb)
    check("lintian --fail-on error" in p.stdout,
          "make deb did not run lintian")
    print("built %s in %.0f s" % (os.path.relpath(deb, ROOT), secs))
    return deb, version


def judge_install(version):
    p = run(BIN, "--version")
    out = p.stdout
    check(out.startswith("carimbo %s\n" % version),
          "--version: first line is not \"carimbo %s\": %r" % (version, out))
    check(re.search(r"^commit: [0-9a-f]{12}", out, re.M) is not None,
          "--version: no git commit: %r" % out)
    check(re.search(r"^openssl: 3\.\d+\.\d+ ", out, re.M) is not None,
          "--version: no OpenSSL version: %r" % out)
    check(re.search(r"^liburing: 2\.\d+", out, re.M) is not None,
          "--version: no liburing version: %r" % out)
    check(re.search(r"^pkcs11: /usr/lib/softhsm/libsofthsm2\.so: SoftHSM "
                    r"\d+\.\d+ ", out, re.M) is not None,
          "--version: no PKCS#11 module version: %r" % out)

    units = sorted(glob.glob(os.path.join(UNITDIR, "carimbo*")))
    check(os.path.join(UNITDIR, "carimbo.service") in units,
          "carimbo.service not installed in %s" % UNITDIR)
    for u in units:
        text = open(u).read()
        for exe in re.findall(r"^Exec\w*=[-@!:+]*(\S+)", text, re.M):
            if exe.endswith("/carimbo"):
                check(exe == BIN, "%s runs %s, not %s" % (u, exe, BIN))
        on = glob.glob("/etc/systemd/system/*.wants/" + os.path.basename(u))
        check(not on, "%s is enabled: %s" % (u, on))
    for u in ("carimbo-crl.service", "carimbo-crl.timer"):
        check(os.path.join(UNITDIR, u) in units, u + " not installed")
    timer = os.path.join(UNITDIR, "carimbo-crl.timer")
    text = open(timer).read() if os.path.exists(timer) else ""
    check(re.search(r"^OnCalendar=hourly$", text, re.M) and
          re.search(r"^Persistent=true$", text, re.M),
          "carimbo-crl.timer: not hourly and persistent: %r" % text)
    if shutil.which("systemd-analyze"):
        p = run("systemd-analyze", "verify", *units, ok=False)
        check(p.returncode == 0 and p.stderr.strip() == "",
              "systemd-analyze verify: %d %s" % (p.returncode, p.stderr))
    else:
        check(False, "no systemd-analyze (package systemd, make deps)")

    try:
        pw = pwd.getpwnam("carimbo")
        check(pw.pw_uid < 1000, "carimbo is not a system user: uid %d" %
              pw.pw_uid)
        check(pw.pw_shell.endswith("nologin"),
              "carimbo's shell is %s" % pw.pw_shell)
    except KeyError:
        check(False, "no carimbo user after the install")
        return
    st = os.stat("/var/lib/carimbo")
    check(stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == pw.pw_uid,
          "/var/lib/carimbo: mode %o uid %d" % (st.st_mode, st.st_uid))
    check(os.listdir("/var/lib/carimbo") == [],
          "the package put %s in /var/lib/carimbo" %
          os.listdir("/var/lib/carimbo"))
    check(sorted(os.listdir("/etc/carimbo")) == ["carimbo.conf"],
          "/etc/carimbo holds %s" % os.listdir("/etc/carimbo"))
    # One config path: the service reads the conffile, which names the
    # state tmpfiles made; the clock report and the admin socket come too.
    with open(os.path.join(UNITDIR, "carimbo.service")) as f:
        check(re.search(r"^ExecStart=/usr/bin/carimbo serve -c "
                        r"/etc/carimbo/carimbo\.conf$", f.read(), re.M),
              "carimbo.service does not read /etc/carimbo/carimbo.conf")
    with open("/etc/carimbo/carimbo.conf") as f:
        check(re.search(r"^state_dir = /var/lib/carimbo$", f.read(), re.M),
              "/etc/carimbo/carimbo.conf: no state_dir = /var/lib/carimbo")
    for u in ("carimbo-admin.socket", "carimbo-clock-report.service",
              "carimbo-clock-report.timer"):
        check(os.path.join(UNITDIR, u) in units, "%s not installed" % u)
    conffiles = run("dpkg-query", "-W", "-f=${Conffiles}", "carimbo").stdout
    check("/etc/carimbo/carimbo.conf" in conffiles,
          "/etc/carimbo/carimbo.conf is not a conffile: %r" % conffiles)
    for page in ("man1/carimbo.1.gz", "man5/carimbo.conf.5.gz"):
        check(os.path.isfile("/usr/share/man/" + page), "no " + page)
    return pw


def demo(pw, tmp):
    """The installed binary as the carimbo user: init, serve, one stamp."""
    os.chown(tmp, pw.pw_uid, pw.pw_gid)
    state = os.path.join(tmp, "state")
    run("runuser", "-u", "carimbo", "--", BIN, "init", "--demo", state)
    conf = os.path.join(state, "carimbo.conf")
    check(os.stat(conf).st_uid == pw.pw_uid, "init's state is not carimbo's")
    p = run("runuser", "-u", "carimbo", "--", BIN, "--version", "-c", conf)
    check("pkcs11: /usr/lib/softhsm/libsofthsm2.so: SoftHSM" in p.stdout,
          "--version -c: %r" % p.stdout)

    # carimbo-crl.service's command, as the unit has it, on this state:
    # nothing is due; with a margin beyond crl_days, the three CRLs are.
    unit = os.path.join(UNITDIR, "carimbo-crl.service")
    m = re.search(r"^ExecStart=(.*)$", open(unit).read() if
                  os.path.exists(unit) else "", re.M)
    if check(m is not None, "carimbo-crl.service has no ExecStart"):
        cmd = [conf if a == "/etc/carimbo/carimbo.conf" else a
               for a in m.group(1).split()]
        check(cmd[0] == BIN and conf in cmd, "carimbo-crl.service runs %r"
              % m.group(1))
        p = run("runuser", "-u", "carimbo", "--", *cmd, ok=False)
        check(p.returncode == 0 and p.stdout.count(" kept: ") == 3,
              "carimbo-crl.service's command: %d %r %r" %
              (p.returncode, p.stdout, p.stderr[-300:]))
        p = run("runuser", "-u", "carimbo", "--", *cmd, "--margin", "500",
                ok=False)
        check(p.returncode == 0 and p.stdout.count(" signed: ") == 3,
              "carimbo-crl.service's command, --margin 500: %d %r %r" %
              (p.returncode, p.stdout, p.stderr[-300:]))
    # Its second command: the OCSP responses near their nextUpdate.
    cmds = re.findall(r"^ExecStart=(.*)$", open(unit).read() if
                      os.path.exists(unit) else "", re.M)
    if check(len(cmds) == 2 and " ca ocsp " in cmds[1] + " ",
             "carimbo-crl.service's commands: %r" % cmds):
        cmd = [conf if a == "/etc/carimbo/carimbo.conf" else a
               for a in cmds[1].split()]
        p = run("runuser", "-u", "carimbo", "--", *cmd, ok=False)
        check(p.returncode == 0, "carimbo-crl.service's ca ocsp: %d %r" %
              (p.returncode, p.stderr[-300:]))

    err = open(os.path.join(tmp, "server.log"), "wb")
    # Run as carimbo directly (not through runuser, which would stand
    # between the server and SIGTERM and hide its exit status).
    srv = subprocess.Popen([BIN, "serve", "-c", conf, "--listen",
                            "127.0.0.1:0"], stdout=subprocess.PIPE,
                           stderr=err, user=pw.pw_uid, group=pw.pw_gid,
                           extra_groups=[], cwd=tmp)
    try:
        line = srv.stdout.readline().decode()
        m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            check(False, "the installed server did not start: %r" % line)
            return
        url = "http://127.0.0.1:%s/" % m.group(1)
        data, q, r = (os.path.join(tmp, x) for x in ("data", "q.tsq",
                                                    "r.tsr"))
        with open(data, "wb") as f:
            f.write(os.urandom(256))
        run("openssl", "ts", "-query", "-data", data, "-sha256", "-cert",
            "-out", q)
        p = run("curl", "-sS", "-o", r, "-w", "%{http_code}", "-H",
                "Content-Type: application/timestamp-query",
                "--data-binary", "@" + q, url)
        check(p.stdout == "200", "POST / answered %s" % p.stdout)
        p = run("openssl", "ts", "-verify", "-in", r, "-queryfile", q,
                "-CAfile", os.path.join(state, "root.pem"), "-untrusted",
                os.path.join(state, "tsa-chain.pem"), ok=False)
        check(p.returncode == 0 and "Verification: OK" in p.stdout,
              "openssl ts -verify: %s%s" % (p.stdout, p.stderr))
    finally:
        srv.send_signal(signal.SIGTERM)
        try:
            rc = srv.wait(timeout=20)
        except subprocess.TimeoutExpired:
            srv.kill()
            rc = srv.wait()
        err.close()
    check(rc == 0, "the installed server exited %d after SIGTERM" % rc)


def judge_removal(before):
    dpkg("-r", "carimbo")
    check(not os.path.exists(BIN), "dpkg -r left %s" % BIN)
    check(not glob.glob(os.path.join(UNITDIR, "carimbo*")),
          "dpkg -r left the units")
    check(os.path.isfile("/etc/carimbo/carimbo.conf"),
          "dpkg -r removed the conffile (policy keeps it until purge)")
    dpkg("--purge", "carimbo")
    check(not installed(), "carimbo still known to dpkg after --purge")
    check(not glob.glob("/var/lib/dpkg/info/carimbo.*"),
          "dpkg --purge left /var/lib/dpkg/info/carimbo.*")
    left = snapshot() - before
    user_kept = False
    try:
        pwd.getpwnam("carimbo")
        user_kept = True
    except KeyError:
        pass
    extra = sorted(x for x in left if x not in KEPT and not foreign(x))
    check(not extra, "dpkg --purge left %s" % extra[:20])
    gone = sorted(before - snapshot())
    check(not gone, "install and purge removed %s" % gone[:20])
    print("after --purge: nothing left but the carimbo system user "
          "(kept: %s) and %s" % ("yes" if user_kept else "no",
                                 sorted(left & KEPT) or "no backups"))


def main():
    if os.path.isfile(CARIMBO) and b"__asan_init" in open(CARIMBO,
                                                          "rb").read():
        print("skipped: the package is a plain build of its own "
              "(build/deb); it is tested in the plain make test")
        return 77
    if os.geteuid() != 0:
        print("skipped: installing a package needs root (dpkg -i)")
        return 77
    for tool in ("dpkg-buildpackage", "dh", "lintian", "openssl", "curl",
                 "runuser", "make"):
        if shutil.which(tool) is None:
            print("FAIL: %s not found (make deps)" % tool)
            return 1
    lock = open(LOCK, "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    if installed():
        print("skipped: a carimbo package is installed on this machine; "
              "this test installs and purges its own (dpkg --purge "
              "carimbo first)")
        return 77
    deb, version = build()
    before = snapshot()
    tmp = tempfile.mkdtemp(prefix="carimbo-package-")
    try:
        dpkg("-i", deb)
        pw = judge_install(version)
        if pw is not None:
            demo(pw, tmp)
        judge_removal(before)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if installed():
            dpkg("--purge", "carimbo")
    if failures:
        print("package.py: %d of %d checks failed" % (len(failures),
                                                       checks))
        return 1
    print("package.py: %d checks passed" % checks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
