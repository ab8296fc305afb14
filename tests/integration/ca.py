# SPDX-License-Identifier: ISC
# `carimbo ca` judged from outside (doc/design.md "The CA"): a demo state
# from `carimbo init --demo`, every profile issued from an `openssl req` CSR
# and with --keygen-on-token, each certificate checked with `openssl verify`
# against the hierarchy, its extensions read back with `openssl x509`,
# `openssl asn1parse` (qcStatements) and GnuTLS `certtool`; bad requests
# refused with a clear message and no database change; revocation and
# CRL v2 read with `openssl crl` and enforced by `openssl verify
# -crl_check`; kill -9 during issue leaves a consistent database.
# Needs $CARIMBO (tests/run.sh sets it); exit 77 when a tool is missing.
import hashlib
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile

CARIMBO = os.environ.get("CARIMBO")
MODULE = os.environ.get("CARIMBO_PKCS11_MODULE",
                        "/usr/lib/softhsm/libsofthsm2.so")
FAILS = []


def skip(why):
    print("skipped: " + why)
    sys.exit(77)


def fail(msg):
    print("FAIL: " + msg)
    FAILS.append(msg)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


def run(*args, ok=True, stdin=None):
    p = subprocess.run(list(args), capture_output=True, text=True,
                       input=stdin)
    if ok and p.returncode != 0:
        fail("%s: exit %d: %s" % (" ".join(args), p.returncode,
                                  p.stderr.strip()[-400:]))
    return p


def der_tlvs(buf, off=0, end=None):
    """The (tag, start of content, content length) of each TLV in buf."""
    end = len(buf) if end is None else end
    out = []
    while off < end:
        tag = buf[off]
        n = buf[off + 1]
        off += 2
        if n & 0x80:
            k = n & 0x7f
            n = int.from_bytes(buf[off:off + k], "big")
            off += k
        out.append((tag, off, n))
        off += n
    return out


def main():
    if not CARIMBO:
        skip("CARIMBO not set")
    if not os.access(MODULE, os.R_OK):
        skip(MODULE + " absent (apt-get install softhsm2)")
    for tool in ("openssl", "certtool"):
        if shutil.which(tool) is None:
            skip("no " + tool + " (apt-get install openssl gnutls-bin)")
    t = tempfile.mkdtemp()
    try:
        body(t)
    finally:
        shutil.rmtree(t, ignore_errors=True)
    if FAILS:
        print("ca.py: %d check(s) failed" % len(FAILS))
        sys.exit(1)
    print("ca.py: all checks passed")


def body(t):
    state = os.path.join(t, "state")
    conf = os.path.join(state, "carimbo.conf")
    db = os.path.join(state, "ca", "ca.db")
    run(CARIMBO, "init", "--demo", state)
    root = os.path.join(state, "root.pem")

    def p(name):
        return os.path.join(t, name)

    chains = {}
    for issuer in ("tsa", "user"):
        chains[issuer] = p(issuer + "-chain.pem")
        run(CARIMBO, "ca", "export-chain", "-c", conf, "--issuer", issuer,
            "--out", chains[issuer])
        check(open(chains[issuer]).read().count("BEGIN CERTIFICATE") == 2,
              "export-chain %s: issuing CA and root" % issuer)

    def csr(name, subj, key="ec:P-256", ext=None):
        keyfile, out = p(name + ".key"), p(name + ".csr")
        if key.startswith("ec:"):
            kargs = ["-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:" + key[3:]]
        else:
            kargs = ["-newkey", key]
        args = ["openssl", "req", "-new", "-nodes", "-keyout", keyfile,
                "-subj", subj, "-out", out] + kargs
        if ext:
            args += ["-addext", ext]
        run(*args)
        return out

    def issue(profile, *args, ok=True):
        return run(CARIMBO, "ca", "issue", "-c", conf, "--profile", profile,
                   *args, ok=ok)

    def text(cert):
        return run("openssl", "x509", "-in", cert, "-noout", "-text").stdout

    def ext_lines(txt, header):
        """The header line's suffix and the value line after it."""
        lines = txt.splitlines()
        for i, l in enumerate(lines):
            if l.strip().startswith(header):
                return l.strip()[len(header):].strip(), lines[i + 1].strip()
        return None, None

    def verify(cert, issuer, purpose=None):
        more = ["-purpose", purpose] if purpose else []
        out = run("openssl", "verify", *more, "-CAfile", root, "-untrusted",
                  chains[issuer], cert, ok=False)
        check(out.stdout.strip() == cert + ": OK",
              "openssl verify %s: %s %s" % (cert, out.stdout, out.stderr))
        both = p("gnutls-" + os.path.basename(cert))
        with open(both, "w") as f:
            f.write(open(cert).read() + open(chains[issuer]).read())
        out = run("certtool", "--verify", "--load-ca-certificate", root,
                  "--infile", both, ok=False)
        check(out.returncode == 0 and "Chain verification output: Verified"
              in out.stdout, "certtool --verify %s: %s" % (cert,
                                                           out.stdout[-300:]))
        out = run("certtool", "-i", "--infile", cert, ok=False)
        check(out.returncode == 0 and "X.509 Certificate Information" in
              out.stdout, "certtool -i %s" % cert)
        return out.stdout

    def common(cert, txt, issuer):
        check("X509v3 Subject Key Identifier" in txt, cert + ": no SKI")
        check("X509v3 Authority Key Identifier" in txt, cert + ": no AKI")
        check("URI:http://127.0.0.1:8318/crl/%s.crl" % issuer in txt,
              cert + ": CRL distribution point")
        check("CA Issuers - URI:http://127.0.0.1:8318/ca/%s.crt" % issuer
              in txt, cert + ": AIA caIssuers")
        crit, val = ext_lines(txt, "X509v3 Basic Constraints:")
        check(val == "CA:FALSE", cert + ": basicConstraints " + str(val))
        sn = run("openssl", "x509", "-in", cert, "-noout",
                 "-serial").stdout.strip().split("=")[1]
        check(30 <= len(sn) <= 34, cert + ": serial is not 128 bits: " + sn)

    def qc_oids(cert):
        """The OIDs inside qcStatements, via openssl asn1parse."""
        der = p("qc.der")
        run("openssl", "x509", "-in", cert, "-outform", "DER", "-out", der)
        lines = run("openssl", "asn1parse", "-inform", "DER", "-in",
                    der).stdout.splitlines()
        for i, l in enumerate(lines):
            if ":qcStatements" in l or ":1.3.6.1.5.5.7.1.3" in l:
                off = lines[i + 1].split(":")[0].strip()
                inner = run("openssl", "asn1parse", "-inform", "DER", "-in",
                            der, "-strparse", off).stdout
                return [x.split(":", 3)[-1].strip() for x in
                        inner.splitlines() if "OBJECT" in x]
        return []

    serials = {}

    # tsa: RFC 3161 2.3, one critical EKU timeStamping.
    c = csr("tsa", "/C=PT/O=carimbo demo/CN=carimbo demo TSU 2")
    out = issue("tsa", "--csr", c, "--unit-id", "2", "--out", p("tsa.pem"))
    serials["tsa"] = out.stdout.strip()
    txt = text(p("tsa.pem"))
    check(ext_lines(txt, "X509v3 Extended Key Usage:") ==
          ("critical", "Time Stamping"), "tsa: EKU")
    check(ext_lines(txt, "X509v3 Key Usage:") ==
          ("critical", "Digital Signature"), "tsa: keyUsage")
    common(p("tsa.pem"), txt, "tsa")
    verify(p("tsa.pem"), "tsa")

    # qualified from a CSR: QcCompliance, QcType esign, no QcSSCD.
    c = csr("q", "/C=PT/GN=Ana/SN=Silva/CN=Ana Silva")
    out = issue("qualified", "--csr", c, "--out", p("q.pem"))
    serials["qualified"] = out.stdout.strip()
    txt = text(p("q.pem"))
    check(ext_lines(txt, "X509v3 Key Usage:") ==
          ("critical", "Non Repudiation"), "qualified: keyUsage")
    check("Policy: 0.4.0.194112.1.0" in txt, "qualified: QCP-n policy")
    check("Extended Key Usage" not in txt, "qualified: has an EKU")
    oids = qc_oids(p("q.pem"))
    for o in ("0.4.0.1862.1.1", "0.4.0.1862.1.6", "0.4.0.1862.1.6.1",
              "1.3.6.1.5.5.7.11.2", "0.4.0.194121.1.1"):
        check(o in oids, "qualified: qcStatements lacks %s (%s)" % (o, oids))
    check("0.4.0.1862.1.4" not in oids, "qualified CSR: QcSSCD claimed")
    common(p("q.pem"), txt, "user")
    verify(p("q.pem"), "user")

    # qualified with the key on the token: QcSSCD, QCP-n-qscd.
    out = issue("qualified", "--keygen-on-token", "--subject",
                "/C=PT/CN=Rui Token", "--out", p("qt.pem"))
    serials["qualified-token"] = out.stdout.strip()
    txt = text(p("qt.pem"))
    check("0.4.0.1862.1.4" in qc_oids(p("qt.pem")),
          "qualified on token: no QcSSCD")
    check("Policy: 0.4.0.194112.1.2" in txt, "qualified on token: QCP-n-qscd")
    verify(p("qt.pem"), "user")

    # QcCClegislation and QcLimitValue (EN 319 412-5 4.2.4, 4.3.2): the
    # statements' DER byte for byte, read out with openssl asn1parse.
    def qc_der(cert):
        der = p("qcx.der")
        run("openssl", "x509", "-in", cert, "-outform", "DER", "-out", der)
        lines = run("openssl", "asn1parse", "-inform", "DER", "-in",
                    der).stdout.splitlines()
        off = [lines[i + 1].split(":")[0].strip() for i, l in
               enumerate(lines) if ":qcStatements" in l]
        if not check(len(off) == 1, cert + ": no qcStatements"):
            return b"", ""
        run("openssl", "asn1parse", "-inform", "DER", "-in", der,
            "-strparse", off[0], "-noout", "-out", p("qcs.der"))
        txt = run("openssl", "asn1parse", "-inform", "DER", "-in",
                  p("qcs.der")).stdout
        return open(p("qcs.der"), "rb").read(), txt

    # 0.4.0.1862.1.7 and .2: 1862 is 0x746, base 128 0x8e 0x46.
    oid_leg = bytes.fromhex("0606 04008e460107")
    oid_lim = bytes.fromhex("0606 04008e460102")
    for name, args, want in (
            ("ql1", ["--qc-legislation", "MO,CN", "--qc-limit", "EUR:5:3"],
             [bytes.fromhex("3012") + oid_leg + bytes.fromhex(
                 "3008 13024d4f 1302434e"),
              bytes.fromhex("3015") + oid_lim + bytes.fromhex(
                  "300b 1303455552 020105 020103")]),
            ("ql2", ["--qc-limit", "MOP:1000000:-2"],
             [bytes.fromhex("3017") + oid_lim + bytes.fromhex(
                 "300d 13034d4f50 02030f4240 0201fe")])):
        issue("qualified", "--csr", csr(name, "/C=MO/GN=Ana/CN=Ana Lei"),
              *args, "--out", p(name + ".pem"))
        der, txt = qc_der(p(name + ".pem"))
        for w in want:
            check(w in der, "%s: qcStatements lack %s: %s" % (name, w.hex(),
                                                              der.hex()))
        check(("0.4.0.1862.1.7" in txt) == (name == "ql1"),
              name + ": QcCClegislation presence: " + txt)
        check(":0.4.0.1862.1.1" in txt, name + ": QcCompliance gone")
        verify(p(name + ".pem"), "user")
    der, txt = qc_der(p("q.pem"))
    check("0.4.0.1862.1.7" not in txt and "0.4.0.1862.1.2" not in txt,
          "q.pem: legislation or limit without the options")

    # normalised: digitalSignature + nonRepudiation, policy, no QC.
    c = csr("n", "/C=PT/CN=Ana Normal", key="rsa:2048")
    out = issue("normalised", "--csr", c, "--out", p("n.pem"))
    serials["normalised"] = out.stdout.strip()
    txt = text(p("n.pem"))
    check(ext_lines(txt, "X509v3 Key Usage:") ==
          ("critical", "Digital Signature, Non Repudiation"),
          "normalised: keyUsage")
    check("Policy: 0.4.0.2042.1.1" in txt, "normalised: policy")
    check("qcStatements" not in txt and "1.3.6.1.5.5.7.1.3" not in txt,
          "normalised: has qcStatements")
    common(p("n.pem"), txt, "user")
    verify(p("n.pem"), "user")

    # encipherment: RSA keyEncipherment, EC keyAgreement, no signing bit.
    c = csr("er", "/C=PT/CN=Ana Cifra", key="rsa:2048")
    issue("encipherment", "--csr", c, "--out", p("er.pem"))
    check(ext_lines(text(p("er.pem")), "X509v3 Key Usage:") ==
          ("critical", "Key Encipherment"), "encipherment RSA: keyUsage")
    verify(p("er.pem"), "user")
    out = issue("encipherment", "--keygen-on-token", "--subject",
                "/C=PT/CN=Rui Cifra", "--key-label", "rui-enc", "--out",
                p("ee.pem"))
    check(ext_lines(text(p("ee.pem")), "X509v3 Key Usage:") ==
          ("critical", "Key Agreement"), "encipherment EC: keyUsage")
    verify(p("ee.pem"), "user")
    check(shutil.which("pkcs11-tool") is not None,
          "pkcs11-tool is installed (make deps: opensc): without it the "
          "key's usage on the token goes unchecked")
    if shutil.which("pkcs11-tool"):
        pin = open(os.path.join(state, "pin")).read().split("\n")[0]
        env = dict(os.environ,
                   SOFTHSM2_CONF=os.path.join(state, "softhsm2.conf"))
        objs = subprocess.run(["pkcs11-tool", "--module", MODULE,
                               "--token-label", "carimbo", "--login",
                               "--pin", pin, "-O"], capture_output=True,
                              text=True, env=env).stdout
        objects = re.split(r"\n(?=\S.* Object;)", "\n" + objs)
        priv = [o for o in objects if o.startswith("Private Key Object")
                and re.search(r"label: +rui-enc\n", o)]
        usage = re.search(r"Usage: +(.*)", priv[0]).group(1) if priv else ""
        check(usage == "derive", "token: rui-enc private key usage is "
              "\"%s\", not derive only" % usage)

    # smime: emailProtection only, SAN rfc822Name, S/MIME strict policy.
    c = csr("sm", "/CN=ana@example.pt", key="rsa:2048",
            ext="subjectAltName=email:ana@example.pt")
    out = issue("smime", "--csr", c, "--out", p("sm.pem"))
    serials["smime"] = out.stdout.strip()
    txt = text(p("sm.pem"))
    check(ext_lines(txt, "X509v3 Extended Key Usage:")[1] ==
          "E-mail Protection", "smime: EKU")
    check(ext_lines(txt, "X509v3 Subject Alternative Name:")[1] ==
          "email:ana@example.pt", "smime: SAN")
    check(ext_lines(txt, "X509v3 Key Usage:") ==
          ("critical", "Digital Signature, Key Encipherment"),
          "smime RSA: keyUsage")
    check("Policy: 2.23.140.1.5.1.3" in txt, "smime: policy")
    common(p("sm.pem"), txt, "user")
    verify(p("sm.pem"), "user")
    c = csr("sm2", "/CN=rui@example.pt")
    issue("smime", "--csr", c, "--email", "rui@example.pt", "--out",
          p("sm2.pem"))
    check(ext_lines(text(p("sm2.pem")), "X509v3 Key Usage:") ==
          ("critical", "Digital Signature, Key Agreement"),
          "smime EC: keyUsage")
    verify(p("sm2.pem"), "user")

    # S/MIME BR: the validation chosen says what the subject may hold and
    # which policy the certificate asserts (7.1.4.2.3, 7.1.4.2.5,
    # 7.1.6.1, strict generation both).  openssl checks the purpose,
    # certtool -i reads the content back.
    def smime(name, validation, subj, email, policy):
        c = csr(name, subj)
        args = ["--validation", validation] if validation else []
        out = issue("smime", *args, "--csr", c, "--email", email, "--out",
                    p(name + ".pem"))
        info = verify(p(name + ".pem"), "user", "smimesign")
        txt = text(p(name + ".pem"))
        check("Policy: " + policy in txt and txt.count("Policy:") == 1,
              "%s: policy is not %s alone" % (name, policy))
        gt = re.sub(r"\s+", " ", info)
        for want in ("Key Purpose (not critical): Email protection. "
                     "Subject Key", "RFC822Name: " + email,
                     "Certificate Policies (not critical): " + policy,
                     "Key Usage (critical): Digital signature. "
                     "Key agreement."):
            check(want in gt, "%s: certtool -i lacks %r" % (name, want))
        return out.stdout.strip(), gt

    _, gt = smime("smm", "mailbox", "/serialNumber=M1/CN=eva@example.pt",
                  "eva@example.pt", "2.23.140.1.5.1.3")
    check("Subject: CN=eva@example.pt,serialNumber=M1" in gt,
          "smime mailbox: certtool subject")
    serials["smime-individual"], gt = smime(
        "smi", "individual", "/CN=Ana Mail/GN=Ana/SN=Mail/C=MO",
        "ana@example.mo", "2.23.140.1.5.4.3")
    check("Subject: C=MO,surName=Mail,givenName=Ana,CN=Ana Mail" in gt,
          "smime individual: certtool subject")
    _, gt = smime("smp", "individual", "/pseudonym=Pardal/CN=Pardal",
                  "pardal@example.mo", "2.23.140.1.5.4.3")
    check("CN=Pardal" in gt, "smime pseudonym: certtool subject")
    out = run(CARIMBO, "ca", "list", "-c", conf)
    check(re.search(serials["smime-individual"] + r"\tuser\tsmime-individual"
                    r"\t", out.stdout) is not None,
          "ca list: the individual-validated profile: " + out.stdout)

    # Refusals: a clear message, and the database untouched.
    def digest():
        return hashlib.sha256(open(db, "rb").read()).hexdigest()

    def refused(what, args, words):
        before = digest()
        out = run(CARIMBO, "ca", *args, ok=False)
        check(out.returncode != 0, what + ": accepted")
        check(all(w in out.stderr for w in words),
              "%s: message lacks %s: %s" % (what, words, out.stderr))
        check(digest() == before, what + ": the database changed")

    good = csr("pop", "/C=PT/CN=Pop")
    run("openssl", "req", "-in", good, "-outform", "DER", "-out",
        p("pop.der"))
    der = bytearray(open(p("pop.der"), "rb").read())
    der[-3] ^= 0x01            # inside the signature's r or s
    open(p("badsig.der"), "wb").write(der)
    refused("bad CSR signature", ["issue", "-c", conf, "--profile",
            "normalised", "--csr", p("badsig.der"), "--out", p("x.pem")],
            ["proof of possession"])
    # csr.c takes PEM only when "-----BEGIN " opens the file: a DER CSR
    # with those bytes in its subject is DER, and is issued.
    c = csr("begin", "/C=PT/CN=-----BEGIN CERTIFICATE REQUEST-----")
    run("openssl", "req", "-in", c, "-outform", "DER", "-out",
        p("begin.der"))
    check(b"-----BEGIN " in open(p("begin.der"), "rb").read(),
          "begin.der lacks -----BEGIN")
    out = issue("normalised", "--csr", p("begin.der"), "--out",
                p("begin.pem"), ok=False)
    if check(out.returncode == 0, "DER CSR holding -----BEGIN refused"):
        verify(p("begin.pem"), "user")
    # `openssl req -text` writes text before the PEM block.
    run("openssl", "req", "-in", good, "-text", "-out", p("text.csr"))
    refused("text before a PEM CSR", ["issue", "-c", conf, "--profile",
            "normalised", "--csr", p("text.csr"), "--out", p("x.pem")],
            ["text before", "-----BEGIN"])
    # An extensionRequest (RFC 2985 5.4.2) whose value is not Extensions:
    # the value's SEQUENCE tag made an OCTET STRING in the DER, and the
    # request signed again with its key.  Refused, not read as "asks for
    # no extensions".
    c = csr("xr", "/C=PT/CN=Xr", ext="subjectAltName=email:xr@example.pt")
    run("openssl", "req", "-in", c, "-outform", "DER", "-out", p("xr.der"))
    der = open(p("xr.der"), "rb").read()
    top = der_tlvs(der)[0]
    info, alg = der_tlvs(der, top[1], top[1] + top[2])[:2]
    cri = bytearray(der[top[1]:info[1] + info[2]])
    oid = bytes.fromhex("06092a864886f70d01090e")     # extensionRequest
    at = cri.find(oid) + len(oid)
    check(at > len(oid) and cri[at] == 0x31 and cri[at + 2] == 0x30,
          "xr.der: no extensionRequest SET { SEQUENCE }")
    cri[at + 2] = 0x04
    open(p("xr.cri"), "wb").write(cri)
    run("openssl", "dgst", "-sha256", "-sign", p("xr.key"), "-out",
        p("xr.sig"), p("xr.cri"))
    sig = b"\0" + open(p("xr.sig"), "rb").read()

    def tlv(tag, body):
        n = len(body)
        if n < 0x80:
            return bytes([tag, n]) + body
        k = (n.bit_length() + 7) // 8
        return bytes([tag, 0x80 | k]) + n.to_bytes(k, "big") + body

    open(p("xr-bad.der"), "wb").write(
        tlv(0x30, bytes(cri) + der[info[1] + info[2]:alg[1] + alg[2]] +
            tlv(0x03, sig)))
    out = run("openssl", "req", "-inform", "DER", "-in", p("xr-bad.der"),
              "-noout", "-verify", ok=False)
    check("verify OK" in out.stdout + out.stderr,
          "xr-bad.der: openssl req -verify: " + out.stdout + out.stderr)
    refused("malformed extensionRequest", ["issue", "-c", conf, "--profile",
            "normalised", "--csr", p("xr-bad.der"), "--out", p("x.pem")],
            ["extensionRequest", "not an Extensions"])
    refused("disallowed subject field", ["issue", "-c", conf, "--profile",
            "qualified", "--csr", csr("loc", "/C=PT/L=Lisboa/CN=X"),
            "--out", p("x.pem")], ["localityName", "not allowed"])
    refused("forbidden extension", ["issue", "-c", conf, "--profile",
            "normalised", "--csr", csr("bc", "/C=PT/CN=Y",
                                       ext="basicConstraints=CA:TRUE"),
            "--out", p("x.pem")], ["basicConstraints", "refused"])
    refused("DNS name in a CSR", ["issue", "-c", conf, "--profile", "smime",
            "--csr", csr("dns", "/CN=z@example.pt",
                         ext="subjectAltName=DNS:example.pt"),
            "--out", p("x.pem")], ["only rfc822Name"])
    refused("non-mailbox for smime", ["issue", "-c", conf, "--profile",
            "smime", "--csr", csr("nm", "/CN=Z"), "--email", "not a mailbox",
            "--out", p("x.pem")], ["is not a mailbox"])
    refused("smime without mailbox", ["issue", "-c", conf, "--profile",
            "smime", "--csr", csr("nm2", "/CN=a@example.pt"), "--out",
            p("x.pem")], ["mailbox is required"])
    # The issue's example: a person's name and country are no mailbox
    # subject; individual-validated names the person in givenName/surname
    # or a pseudonym (7.1.4.2.5 note 2), so the CN alone is refused too.
    refused("smime mailbox with a name", ["issue", "-c", conf, "--profile",
            "smime", "--keygen-on-token", "--subject", "/CN=Ana Mail/C=MO",
            "--email", "ana@example.mo", "--out", p("x.pem")],
            ["countryName", "not allowed", "--validation individual"])
    refused("smime mailbox CN not a mailbox", ["issue", "-c", conf,
            "--profile", "smime", "--validation", "mailbox", "--csr",
            csr("nm3", "/CN=Ana Mail"), "--email", "ana@example.mo",
            "--out", p("x.pem")], ["commonName \"Ana Mail\" is not a "
                                   "mailbox", "--validation individual"])
    refused("smime individual without givenName/surname", ["issue", "-c",
            conf, "--profile", "smime", "--validation", "individual",
            "--keygen-on-token", "--subject", "/CN=Ana Mail/C=MO", "--email",
            "ana@example.mo", "--out", p("x.pem")],
            ["givenName and/or surname", "7.1.4.2.5"])
    refused("smime individual with an organisation", ["issue", "-c", conf,
            "--profile", "smime", "--validation", "individual", "--csr",
            csr("io", "/O=Correio/GN=Ana/CN=Ana"), "--email",
            "ana@example.mo", "--out", p("x.pem")],
            ["organizationName", "not allowed"])
    refused("--validation on another profile", ["issue", "-c", conf,
            "--profile", "normalised", "--validation", "individual", "--csr",
            good, "--out", p("x.pem")], ["--validation is for --profile "
                                         "smime"])
    for what, args, words in (
            ("not ISO 3166", ["--qc-legislation", "MO,XY"],
             ["\"XY\" is not an ISO 3166-1 alpha-2"]),
            ("lower case country", ["--qc-legislation", "mo"],
             ["\"mo\" is not an ISO 3166-1"]),
            ("country twice", ["--qc-legislation", "MO,MO"], ["MO twice"]),
            ("negative amount", ["--qc-limit", "EUR:-5"],
             ["negative amount"]),
            ("not ISO 4217", ["--qc-limit", "EUX:5"],
             ["\"EUX\" is not an ISO 4217"]),
            ("exponent", ["--qc-limit", "EUR:5:40"], ["EXPONENT"])):
        refused("qualified " + what, ["issue", "-c", conf, "--profile",
                "qualified", "--csr", good, *args, "--out", p("x.pem")],
                words)
    refused("--qc-limit on normalised", ["issue", "-c", conf, "--profile",
            "normalised", "--csr", good, "--qc-limit", "EUR:5", "--out",
            p("x.pem")], ["for --profile qualified"])
    refused("RSA-1024", ["issue", "-c", conf, "--profile", "normalised",
            "--csr", csr("weak", "/C=PT/CN=W", key="rsa:1024"), "--out",
            p("x.pem")], ["1024 bits refused"])
    refused("secp256k1", ["issue", "-c", conf, "--profile", "normalised",
            "--csr", csr("k1", "/C=PT/CN=K", key="ec:secp256k1"), "--out",
            p("x.pem")], ["secp256k1", "refused"])
    refused("unknown profile", ["issue", "-c", conf, "--profile", "web",
            "--csr", good, "--out", p("x.pem")], ["unknown"])
    refused("tsa of another provider", ["issue", "-c", conf, "--profile",
            "tsa", "--keygen-on-token", "--unit-id", "3", "--subject",
            "/C=ES/O=carimbo demo/CN=TSU 3", "--out", p("x.pem")],
            ["countryName must be the provider's", "PT"])
    refused("subject on tsa without country", ["issue", "-c", conf,
            "--profile", "tsa", "--keygen-on-token", "--unit-id", "3",
            "--subject", "/O=carimbo demo/CN=TSU 3", "--out", p("x.pem")],
            ["needs", "countryName"])

    # Unit ids (doc/scale-out.md "The units"): unit 1 is init's TSA, unit
    # 2 the CSR's above.  Another unit on either id is refused, naming
    # the holder, and changes nothing; a distinct id is issued, with the
    # id in its subject; --rotate gives a unit its next key; a revoked
    # holder frees its id.
    def tsa(name, unit, *more, subject=None):
        return ["issue", "-c", conf, "--profile", "tsa", "--csr",
                csr(name, subject or "/C=PT/O=carimbo demo/CN=TSU " + name),
                "--unit-id", str(unit), *more, "--out", p(name + ".pem")]

    def unit_rows(unit):
        out = run(CARIMBO, "ca", "list", "-c", conf, "--issuer", "tsa").stdout
        return [l.split("\t") for l in out.splitlines()
                if l.split("\t")[2:4] == ["tsa", str(unit)]]

    refused("tsa on unit 2's id", tsa("u2b", 2),
            ["unit id 2 is held by TSA certificate " + serials["tsa"],
             "CN=carimbo demo TSU 2/serialNumber=2", "valid until",
             "--rotate if this is unit 2's next key"])
    refused("tsa on unit 1's id", tsa("u1b", 1),
            ["unit id 1 is held by TSA certificate", "TSU 1"])
    refused("tsa without --unit-id", ["issue", "-c", conf, "--profile",
            "tsa", "--csr", good, "--out", p("x.pem")],
            ["--profile tsa: --unit-id N"])
    refused("--rotate of a unit no one holds", tsa("u7", 7, "--rotate"),
            ["--rotate: no valid TSA certificate holds unit id 7"])
    refused("a subject serialNumber that is not the unit",
            tsa("u3x", 3, subject="/C=PT/O=carimbo demo/CN=TSU 3/"
                "serialNumber=4"), ['serialNumber "4" is not the unit id 3'])
    refused("--unit-id on normalised", ["issue", "-c", conf, "--profile",
            "normalised", "--csr", good, "--unit-id", "3", "--out",
            p("x.pem")], ["--unit-id and --rotate are for --profile tsa"])
    refused("--unit-id out of range", tsa("u70k", 70000),
            ["--unit-id 70000: 0 to 65535"])
    u3 = run(CARIMBO, "ca", *tsa("u3", 3)).stdout.strip()
    check("serialNumber = 3" in run("openssl", "x509", "-in", p("u3.pem"),
                                    "-noout", "-subject").stdout,
          "unit 3's certificate names its unit in its subject")
    check([r[0] for r in unit_rows(3)] == [u3],
          "ca list: unit 3's row: %s" % unit_rows(3))
    rot = run(CARIMBO, "ca", *tsa("u2r", 2, "--rotate",
              subject="/C=PT/O=carimbo demo/CN=carimbo demo TSU 2"))
    check(sorted(r[0] for r in unit_rows(2)) ==
          sorted([serials["tsa"], rot.stdout.strip()]) and
          "unit 2: a new key, after serial " + serials["tsa"] in rot.stderr,
          "unit 2's rotation: %s %s" % (unit_rows(2), rot.stderr))
    run(CARIMBO, "ca", "revoke", "-c", conf, u3, "--reason", "superseded")
    run(CARIMBO, "ca", *tsa("u3n", 3))
    check(len(unit_rows(3)) == 2, "unit 3 freed by its revocation: %s" %
          unit_rows(3))

    # Revocation and CRL v2.
    def crl(issuer, name):
        run(CARIMBO, "ca", "crl", "-c", conf, "--issuer", issuer, "--out",
            p(name))
        return run("openssl", "crl", "-inform", "DER", "-in", p(name),
                   "-noout", "-text").stdout

    def crl_number(txt):
        return int(ext_lines(txt, "X509v3 CRL Number:")[1])

    first = crl("user", "u0.crl")
    check("No Revoked Certificates" in first, "user CRL not empty at first")
    # RFC 5280 5.1.2.6: revokedCertificates absent, not empty.
    der = open(p("u0.crl"), "rb").read()
    tbs = der_tlvs(der, der_tlvs(der)[0][1])[0]
    tags = [x[0] for x in der_tlvs(der, tbs[1], tbs[1] + tbs[2])]
    check(tags == [0x02, 0x30, 0x30, 0x17, 0x17, 0xa0],
          "empty CRL TBSCertList elements: %s" % [hex(x) for x in tags])
    n0 = crl_number(first)

    sm = serials["smime"]
    run(CARIMBO, "ca", "revoke", "-c", conf, sm, "--reason",
        "keyCompromise", "--invalidity-date", "20260101120000Z")
    refused("duplicate revocation", ["revoke", "-c", conf, sm.lower(),
            "--reason", "superseded"], ["revoked already"])
    refused("unknown reason", ["revoke", "-c", conf, serials["normalised"],
            "--reason", "boredom"], ["--reason"])
    txt = crl("user", "u1.crl")
    check("Serial Number: " + sm in txt, "CRL lacks " + sm)
    check("Key Compromise" in txt, "CRL lacks reasonCode keyCompromise")
    check("Invalidity Date:" in txt and "Jan  1 12:00:00 2026 GMT" in txt,
          "CRL lacks invalidityDate")
    n1 = crl_number(txt)
    check(n1 > n0 + 0, "CRL number %d after %d" % (n1, n0))
    txt2 = crl("user", "u2.crl")
    check(crl_number(txt2) > n1, "CRL numbers do not increase")
    out = run("certtool", "--crl-info", "--inder", "--infile", p("u2.crl"),
              ok=False)
    check(out.returncode == 0 and "Revoked certificates (1)" in out.stdout,
          "certtool --crl-info: " + out.stdout[-300:])
    for issuer in ("root", "tsa"):
        out = run("certtool", "--crl-info", "--inder", "--infile",
                  os.path.join(state, "ca", "pub", "crl", issuer + ".crl"),
                  ok=False)
        check(out.returncode == 0, "certtool --crl-info " + issuer)
    run("openssl", "crl", "-inform", "DER", "-in", p("u2.crl"), "-out",
        p("u2.pem"))
    rootcrl = p("root.crl.pem")
    run("openssl", "crl", "-inform", "DER", "-in",
        os.path.join(state, "ca", "pub", "crl", "root.crl"), "-out",
        rootcrl)
    crls = p("crls.pem")
    open(crls, "w").write(open(p("u2.pem")).read() + open(rootcrl).read())
    for cert, revoked in (("sm.pem", True), ("q.pem", False),
                          ("n.pem", False)):
        out = run("openssl", "verify", "-crl_check_all", "-CRLfile", crls,
                  "-CAfile", root, "-untrusted", chains["user"], p(cert),
                  ok=False)
        if revoked:
            check(out.returncode != 0 and "certificate revoked" in
                  out.stdout + out.stderr, cert + ": -crl_check accepted it")
        else:
            check(out.returncode == 0, cert + ": -crl_check: " +
                  out.stdout + out.stderr)
    # The published CRL follows the database.
    pub = open(os.path.join(state, "ca", "pub", "crl", "user.crl"),
               "rb").read()
    check(pub == open(p("u2.crl"), "rb").read(),
          "pub/crl/user.crl is not the latest CRL")

    out = run(CARIMBO, "ca", "show", "-c", conf, sm)
    check("revoked" in out.stdout and "keyCompromise" in out.stdout and
          "BEGIN CERTIFICATE" in out.stdout, "show: " + out.stdout[:200])
    out = run(CARIMBO, "ca", "list", "-c", conf)
    check(sm in out.stdout and serials["qualified"] in out.stdout,
          "list lacks serials")

    # kill -9 during issue: whole transactions or none.
    c = csr("crash", "/C=PT/CN=Crash")
    random.seed(6)
    for i in range(12):
        delay = "%.3f" % random.uniform(0.005, 0.08)
        subprocess.run(["timeout", "-s", "KILL", delay, CARIMBO, "ca",
                        "issue", "-c", conf, "--profile", "normalised",
                        "--csr", c, "--out", p("crash.pem")],
                       capture_output=True)
    h = sqlite3.connect(db)
    check(h.execute("PRAGMA integrity_check").fetchone()[0] == "ok",
          "integrity_check after kill -9")
    rows = h.execute("SELECT serial, der FROM cert").fetchall()
    h.close()
    for serial, der in rows:
        open(p("row.der"), "wb").write(der)
        sn = run("openssl", "x509", "-inform", "DER", "-in", p("row.der"),
                 "-noout", "-serial").stdout.strip().split("=")[-1]
        check(sn.lstrip("0") == serial.lstrip("0"),
              "row %s holds certificate %s" % (serial, sn))
    out = run(CARIMBO, "ca", "list", "-c", conf)
    check(len(out.stdout.splitlines()) == len(rows) + 1,
          "list after kill -9: %d lines for %d rows" %
          (len(out.stdout.splitlines()), len(rows)))
    # SoftHSM2's file store rewrites token.object in place at every
    # C_Login: a kill at that instant empties it, and the next command
    # restores it from its copy (p11_softhsm_repair; crash_cycles.py
    # kills there on purpose).  Either way the CA issues again.
    run(CARIMBO, "ca", "issue", "-c", conf, "--profile", "normalised",
        "--csr", c, "--out", p("crash.pem"))
    verify(p("crash.pem"), "user")


if __name__ == "__main__":
    main()
