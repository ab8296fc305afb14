#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# The offline root (doc/ca.md "Offline root"), with two SoftHSM2 tokens:
# the root's, in a state of its own, and the online unit's.
#
# - `ca root-init` on the root's token; `carimbo init --offline-root` on
#   the online token writes two CSRs and makes no root;
# - the ceremony: the root signs both CAs from the CSRs (`ca issue
#   --profile tsa-ca|user-ca --csr`) and its CRL; `ca import` online
#   checks and takes them and issues the TSA certificate;
# - `openssl verify` of the chain against the root, with -crl_check_all on
#   the root's and the CAs' CRLs; `carimbo serve` on the online state
#   answers with tokens that `openssl ts -verify` accepts, and serves the
#   root's CRL as imported;
# - the online token holds no key labelled root, and no file of the
#   online state (nor its token) holds the root's PIN;
# - `ca crl --issuer root` online says the root is offline; `ca crl
#   --refresh` exits 0 while the root's CRL is not due, 1 with the same
#   message when it is;
# - a CA certificate for another key, or not from the root, is refused;
# - a second ceremony revokes the TSA CA; its CRL, imported online, shows
#   it, and openssl then refuses the TSA certificate; an older CRL is
#   refused.
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve as S  # noqa: E402

MODULE = os.environ.get("CARIMBO_PKCS11_MODULE",
                        "/usr/lib/softhsm/libsofthsm2.so")


def token(d, label):
    """A fresh SoftHSM2 token in d; returns (softhsm2.conf, PIN)."""
    os.makedirs(os.path.join(d, "tokens"))
    hsm = os.path.join(d, "softhsm2.conf")
    with open(hsm, "w") as f:
        f.write("directories.tokendir = %s/tokens\nobjectstore.backend = "
                "file\nlog.level = ERROR\n" % d)
    pin = os.urandom(8).hex()
    env = dict(os.environ, SOFTHSM2_CONF=hsm)
    p = subprocess.run(["softhsm2-util", "--init-token", "--free",
                        "--label", label, "--pin", pin, "--so-pin",
                        os.urandom(8).hex()], env=env, capture_output=True)
    if p.returncode != 0:
        raise SystemExit("softhsm2-util: %s" % p.stderr.decode())
    return hsm, pin


def run(*args, env=None, ok=True):
    p = subprocess.run(list(args), capture_output=True, env=env)
    if ok and p.returncode != 0:
        raise SystemExit("%s: exit %d: %s" % (" ".join(args), p.returncode,
                         p.stderr.decode(errors="replace")[-600:]))
    return p


def out(p):
    return (p.stdout + p.stderr).decode(errors="replace")


def pem_crl(der, name):
    f = S.path(name + ".pem")
    run("openssl", "crl", "-inform", "DER", "-in", der, "-out", f)
    return f


def verify(root, untrusted, cert, *crls):
    args = ["openssl", "verify", "-CAfile", root, "-untrusted", untrusted]
    if crls:
        args.append("-crl_check_all")
        for c in crls:
            args += ["-CRLfile", c]
    p = run(*args, cert, ok=False)
    return p.returncode, out(p)


def main():
    for tool in ("openssl", "softhsm2-util", "pkcs11-tool", "curl"):
        if shutil.which(tool) is None:
            raise SystemExit("no %s (make deps)" % tool)
    if not os.access(MODULE, os.R_OK):
        raise SystemExit(MODULE + " absent (make deps)")
    url = "http://127.0.0.1:8318"

    # The root: its state and token, connected only for the ceremony.
    rdir = S.path("root")
    os.makedirs(rdir)
    rhsm, rpin = token(rdir, "root-token")
    with open(os.path.join(rdir, "pin"), "w") as f:
        f.write(rpin + "\n")
    rconf = os.path.join(rdir, "carimbo.conf")
    with open(rconf, "w") as f:
        f.write("pkcs11_module = %s\nsofthsm2_conf = softhsm2.conf\n"
                "token_label = root-token\npin_file = pin\n" % MODULE)
    root_pem = os.path.join(rdir, "root.pem")
    p = run(S.CARIMBO, "ca", "root-init", "-c", rconf, "--org", "Test Post",
            "--country", "PT", "--url", url, "--crl-days", "366",
            "--out", root_pem)
    S.check("root CA in" in out(p), "root-init: %s" % out(p))
    S.check(os.path.exists(os.path.join(rdir, "ca", "pub", "crl",
                                        "root.crl")),
            "root-init: no first root CRL")

    # Online: the two CA keys and their CSRs, no root.
    odir = S.path("online-token")
    os.makedirs(odir)
    ohsm, opin = token(odir, "online")
    opinf = os.path.join(odir, "pin")
    with open(opinf, "w") as f:
        f.write(opin + "\n")
    oenv = dict(os.environ, SOFTHSM2_CONF=ohsm)
    state = S.STATE
    p = run(S.CARIMBO, "init", state, "--module", MODULE, "--token",
            "online", "--pin-file", opinf, "--org", "Test Post",
            "--country", "PT", "--url", url, "--offline-root", env=oenv)
    conf = os.path.join(state, "carimbo.conf")
    text = open(conf).read().replace("clock_mode = strict",
                                     "clock_mode = demo")
    with open(conf, "w") as f:
        f.write(text)
    csrs = [os.path.join(state, "ca", n + ".csr") for n in ("tsa-ca",
                                                            "user-ca")]
    for c in csrs:
        p = run("openssl", "req", "-in", c, "-verify", "-noout", ok=False)
        S.check(p.returncode == 0, "%s: %s" % (c, out(p)))
    S.check(not os.path.exists(os.path.join(state, "root.pem")),
            "online init wrote a root.pem")
    p = run(S.CARIMBO, "ca", "crl", "-c", conf, "--refresh", ok=False)
    S.check(p.returncode == 0, "refresh before import: %s" % out(p))

    # The ceremony: the root signs both CAs and its CRL.
    cas = {}
    for name, csr in zip(("tsa-ca", "user-ca"), csrs):
        cas[name] = S.path(name + ".pem")
        p = run(S.CARIMBO, "ca", "issue", "-c", rconf, "--profile", name,
                "--csr", csr, "--out", cas[name])
        cas[name + "-serial"] = p.stdout.decode().strip()
    p = run(S.CARIMBO, "ca", "issue", "-c", rconf, "--profile", "tsa-ca",
            "--keygen-on-token", "--subject", "/C=PT/O=Test Post/CN=x",
            "--out", S.path("x.pem"), ok=False)
    S.check(p.returncode == 2 and "--csr" in out(p),
            "tsa-ca with --keygen-on-token: %s" % out(p))
    root_crl = S.path("root1.crl")
    run(S.CARIMBO, "ca", "crl", "-c", rconf, "--issuer", "root", "--out",
        root_crl)
    lst = out(run(S.CARIMBO, "ca", "list", "-c", rconf))
    S.check(cas["tsa-ca-serial"] in lst and "tsa-ca" in lst,
            "root's ca list lacks the TSA CA: %s" % lst)

    # Refused: the CAs swapped (not this token's key for the label).
    p = run(S.CARIMBO, "ca", "import", "-c", conf, "--root", root_pem,
            "--tsa-ca", cas["user-ca"], "--user-ca", cas["tsa-ca"],
            ok=False)
    S.check(p.returncode == 1 and "not this token's" in out(p),
            "swapped CAs imported: %s" % out(p))
    # Refused: a root that did not sign them.
    other = S.path("other-root.pem")
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:P-256", "-nodes", "-keyout", S.path("o.key"),
        "-subj", "/CN=other", "-out", other)
    p = run(S.CARIMBO, "ca", "import", "-c", conf, "--root", other,
            "--tsa-ca", cas["tsa-ca"], "--user-ca", cas["user-ca"],
            ok=False)
    S.check(p.returncode == 1 and "not issued by the root" in out(p),
            "CAs of another root imported: %s" % out(p))

    # Back online.
    p = run(S.CARIMBO, "ca", "import", "-c", conf, "--root", root_pem,
            "--tsa-ca", cas["tsa-ca"], "--user-ca", cas["user-ca"],
            "--crl", root_crl)
    S.check(open(os.path.join(state, "root.pem")).read() ==
            open(root_pem).read(), "online root.pem is not the root's")
    chain = os.path.join(state, "tsa-chain.pem")
    S.check(open(chain).read().count("BEGIN CERTIFICATE") == 2,
            "tsa-chain.pem is not two certificates")
    pub = os.path.join(state, "ca", "pub")
    S.check(open(os.path.join(pub, "crl", "root.crl"), "rb").read() ==
            open(root_crl, "rb").read(), "published root CRL differs")
    crls = [pem_crl(root_crl, "root1"),
            pem_crl(os.path.join(pub, "crl", "tsa.crl"), "tsa"),
            pem_crl(os.path.join(pub, "crl", "user.crl"), "user")]
    for name in ("tsa-ca", "user-ca"):
        rc, o = verify(root_pem, cas[name], cas[name], *crls)
        S.check(rc == 0 and o.strip().endswith("OK"),
                "verify %s with CRLs: %s" % (name, o))
    rc, o = verify(root_pem, chain, chain, *crls)
    S.check(rc == 0, "verify TSA with CRLs: %s" % o)

    # The offline root, said clearly online.
    p = run(S.CARIMBO, "ca", "crl", "-c", conf, "--issuer", "root",
            "--out", S.path("no.crl"), ok=False)
    S.check(p.returncode == 1 and "offline" in out(p) and
            "ceremony" in out(p), "ca crl --issuer root: %s" % out(p))
    p = run(S.CARIMBO, "ca", "crl", "-c", conf, "--refresh", ok=False)
    S.check(p.returncode == 0 and re.search(r"root: CRL 2 kept.*offline",
                                            out(p)) is not None,
            "refresh, root not due: %s" % out(p))
    p = run(S.CARIMBO, "ca", "crl", "-c", conf, "--refresh", "--issuer",
            "root", "--margin", "8784", ok=False)
    S.check(p.returncode == 1 and "offline" in out(p) and
            "ceremony" in out(p) and "import --crl" in out(p),
            "refresh, root due: %s" % out(p))
    p = run(S.CARIMBO, "ca", "ocsp", "-c", conf, ok=False)
    S.check(p.returncode == 0, "ca ocsp online: %s" % out(p))

    # No root key on the online token, no root PIN in the online state.
    p = run("pkcs11-tool", "--module", MODULE, "--token-label", "online",
            "--login", "--pin", opin, "--list-objects", env=oenv)
    labels = re.findall(r"label:\s+(\S+)", out(p))
    S.check("tsa-ca" in labels and "user-ca" in labels and "tsa" in labels,
            "online token objects: %s" % labels)
    S.check(not any(lb.startswith("root") for lb in labels),
            "a root object on the online token: %s" % labels)
    p = run("pkcs11-tool", "--module", MODULE, "--token-label",
            "root-token", "--login", "--pin", rpin, "--list-objects",
            env=dict(os.environ, SOFTHSM2_CONF=rhsm))
    S.check("root" in re.findall(r"label:\s+(\S+)", out(p)),
            "the root token lacks the root key")
    found = []
    for top in (state, odir):
        for d, _, files in os.walk(top):
            for f in files:
                with open(os.path.join(d, f), "rb") as fh:
                    if rpin.encode() in fh.read():
                        found.append(os.path.join(d, f))
    S.check(found == [], "root PIN in the online state: %s" % found)
    S.check(open(os.path.join(rdir, "pin")).read().strip() == rpin,
            "the PIN search has nothing to find")

    # Serving: tokens verify with the root.
    srv = S.Server(conf)
    try:
        data, q = S.query("t1", "-sha256", "-cert")
        r = S.path("t1.tsr")
        S.check(S.post_curl(srv.url, q, r).startswith("200"), "stamp")
        p = run("openssl", "ts", "-verify", "-in", r, "-queryfile", q,
                "-CAfile", root_pem, "-untrusted", chain, ok=False)
        S.check(p.returncode == 0 and b"Verification: OK" in p.stdout,
                "ts -verify: %s" % out(p))
        got = S.path("served-root.crl")
        S.run("curl", "-sS", "-o", got, srv.url + "crl/root.crl")
        S.check(open(got, "rb").read() == open(root_crl, "rb").read(),
                "served root CRL differs")

        # The second ceremony: the TSA CA revoked, the CRL brought in.
        run(S.CARIMBO, "ca", "revoke", "-c", rconf, cas["tsa-ca-serial"],
            "--reason", "cACompromise")
        root_crl2 = S.path("root2.crl")
        shutil.copy(os.path.join(rdir, "ca", "pub", "crl", "root.crl"),
                    root_crl2)
        run(S.CARIMBO, "ca", "import", "-c", conf, "--crl", root_crl2)
        S.run("curl", "-sS", "-o", got, srv.url + "crl/root.crl")
        S.check(open(got, "rb").read() == open(root_crl2, "rb").read(),
                "served root CRL is not the second ceremony's")
    finally:
        S.check(srv.stop() == 0, "server stopped cleanly")
    text = out(run("openssl", "crl", "-inform", "DER", "-in", root_crl2,
                   "-noout", "-text"))
    S.check(cas["tsa-ca-serial"] in text.replace(":", "").upper() and
            "CA Compromise" in text, "root CRL 2 lacks the TSA CA: %s" %
            text)
    crls[0] = pem_crl(os.path.join(pub, "crl", "root.crl"), "root2")
    rc, o = verify(root_pem, chain, chain, *crls)
    S.check(rc != 0 and "revoked" in o, "revoked TSA CA still verifies: %s"
            % o)
    p = run(S.CARIMBO, "ca", "import", "-c", conf, "--crl", root_crl,
            ok=False)
    S.check(p.returncode == 1 and "older" in out(p),
            "an older root CRL imported: %s" % out(p))

    print("ceremony: %d checks, %d failed" % (S.checks, len(S.failures)))
    shutil.rmtree(S.TMP, ignore_errors=True)
    return 1 if S.failures else 0


if __name__ == "__main__":
    sys.exit(main())
