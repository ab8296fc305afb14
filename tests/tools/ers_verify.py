#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""Independent RFC 4998 EvidenceRecord verifier for carimbo's tests.

Shares no code with tsa/ers.c: its own tiny DER reader, Python's hashlib,
and RFC 4998 section 4.3 read literally:

  1. h is the data's hash value;
  2. h must be in the first list (PartialHashtree) of reducedHashtree;
  3. the actual list's values, sorted in binary ascending order, are
     concatenated and hashed; that value joins the next list; repeat
     until the root;
  4. the root must equal the time-stamp's messageImprint (read here from
     the TSTInfo inside the ContentInfo); the token signature is left to
     `openssl ts -verify -digest`.

Two readings of a first list holding one value exist in the field:
"literal" hashes it like any other list (default); "as-is" takes the value
itself.  carimbo never emits such a list, so both must accept its records.

With --nonce (hex INTEGER content octets, or "none"), the random value r in
carimbo's attribute must give H(r || nonce) in the first list.  --batch
LIST checks many records: one "FILE DIGEST-HEX NONCE-HEX|none|-" a line
("-": no nonce check).
Prints "OK root=<hex>" (or "OK n records") and exits 0, or
"FAIL: <reason>" and exits 1.

usage: ers_verify.py [--reading literal|as-is] [--nonce HEX] --digest HEX FILE
       ers_verify.py [--reading literal|as-is] --batch LIST
"""
import hashlib
import sys

# 2.16.840.1.101.3.4.2.x, RFC 5754 and NIST CSOR.
DIGESTS = {
    "608648016503040201": "sha256",
    "608648016503040202": "sha384",
    "608648016503040203": "sha512",
    "608648016503040208": "sha3_256",
    "608648016503040209": "sha3_384",
    "60864801650304020a": "sha3_512",
}
OID_SIGNED_DATA = "2a864886f70d010702"
OID_TSTINFO = "2a864886f70d0109100104"
# carimbo's attribute: 2.25.273922336166037517098895251363143178255
OID_BLIND = "69839c93c2f8a2f59a9eb1b8a9ffe3e7f9f5b00f"


class Bad(Exception):
    pass


def tlv(buf, pos=0):
    """One DER TLV at pos: (tag, content bytes, position after it)."""
    if pos + 2 > len(buf):
        raise Bad("truncated TLV")
    tag = buf[pos]
    if tag & 0x1f == 0x1f:
        raise Bad("high tag number")
    n = buf[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7f
        if k == 0 or k > 4 or pos + k > len(buf):
            raise Bad("bad length")
        n = int.from_bytes(buf[pos:pos + k], "big")
        if n < 0x80 or buf[pos] == 0:
            raise Bad("non-minimal length")
        pos += k
    if pos + n > len(buf):
        raise Bad("length past the end")
    return tag, buf[pos:pos + n], pos + n


def items(buf):
    """Every TLV of a constructed value's content, in order."""
    out, pos = [], 0
    while pos < len(buf):
        tag, c, pos2 = tlv(buf, pos)
        out.append((tag, c, buf[pos:pos2]))
        pos = pos2
    return out


def expect(it, tag, what):
    if not it or it[0][0] != tag:
        raise Bad("expected %s" % what)
    return it.pop(0)


def alg_of(content):
    """AlgorithmIdentifier content -> hashlib name."""
    it = items(content)
    _, oid, _ = expect(it, 0x06, "digest OID")
    name = DIGESTS.get(oid.hex())
    if name is None:
        raise Bad("unknown digest " + oid.hex())
    return name


def token_imprint(ci):
    """ContentInfo -> (digest name, hashedMessage) of its TSTInfo."""
    it = items(expect(items(ci), 0x30, "ContentInfo")[1])
    if expect(it, 0x06, "contentType")[1].hex() != OID_SIGNED_DATA:
        raise Bad("token is not SignedData")
    sd = items(expect(it, 0xa0, "content [0]")[1])
    sd = items(expect(sd, 0x30, "SignedData")[1])
    expect(sd, 0x02, "version")
    expect(sd, 0x31, "digestAlgorithms")
    eci = items(expect(sd, 0x30, "encapContentInfo")[1])
    if expect(eci, 0x06, "eContentType")[1].hex() != OID_TSTINFO:
        raise Bad("token content is not TSTInfo")
    octets = items(expect(eci, 0xa0, "eContent [0]")[1])
    tst = items(expect(octets, 0x04, "eContent OCTET STRING")[1])
    tst = items(expect(tst, 0x30, "TSTInfo")[1])
    expect(tst, 0x02, "TSTInfo version")
    expect(tst, 0x06, "policy")
    mi = items(expect(tst, 0x30, "messageImprint")[1])
    name = alg_of(expect(mi, 0x30, "hashAlgorithm")[1])
    return name, expect(mi, 0x04, "hashedMessage")[1]


def parse(der):
    it = items(der)
    er = expect(it, 0x30, "EvidenceRecord")[1]
    if it:
        raise Bad("bytes after the record")
    it = items(er)
    if expect(it, 0x02, "version")[1] != b"\x01":
        raise Bad("version is not 1")
    algs = [alg_of(c) for t, c, _ in items(expect(it, 0x30,
            "digestAlgorithms")[1])]
    seq = items(expect(it, 0x30, "archiveTimeStampSequence")[1])
    chain = items(expect(seq, 0x30, "ArchiveTimeStampChain")[1])
    ats = items(expect(chain, 0x30, "ArchiveTimeStamp")[1])
    rec = {"algs": algs, "alg": None, "r": None, "lists": None}
    if ats and ats[0][0] == 0xa0:        # [0] IMPLICIT AlgorithmIdentifier
        rec["alg"] = alg_of(ats.pop(0)[1])
    if ats and ats[0][0] == 0xa1:        # [1] IMPLICIT Attributes
        for _, a, _ in items(ats.pop(0)[1]):
            a = items(a)
            oid = expect(a, 0x06, "attrType")[1]
            vals = items(expect(a, 0x31, "attrValues")[1])
            if oid.hex() == OID_BLIND:
                rec["r"] = expect(vals, 0x04, "r")[1]
    if ats and ats[0][0] == 0xa2:        # [2] IMPLICIT SEQUENCE OF
        rec["lists"] = []
        for t, pht, _ in items(ats.pop(0)[1]):
            if t != 0x30:
                raise Bad("PartialHashtree is not a SEQUENCE")
            vals = []
            for t2, v, _ in items(pht):
                if t2 != 0x04:
                    raise Bad("hash value is not an OCTET STRING")
                vals.append(v)
            rec["lists"].append(vals)
    rec["token"] = expect(ats, 0x30, "timeStamp ContentInfo")[2]
    if ats:
        raise Bad("fields after timeStamp")
    return rec


def H(name, data):
    return hashlib.new(name, data).digest()


def verify(der, h, reading="literal", nonce=None):
    rec = parse(der)
    tok_alg, imprint = token_imprint(rec["token"])
    alg = rec["alg"] or tok_alg          # RFC 4998 4.1: absent -> the TSA's
    if alg not in rec["algs"]:
        raise Bad("tree digest not in digestAlgorithms")
    lists = rec["lists"] or []
    if not lists:
        value = h
    else:
        if h not in lists[0]:
            raise Bad("h is not in the first list")
        if nonce is not None:
            if rec["r"] is None:
                raise Bad("no random-value attribute")
            if H(alg, rec["r"] + nonce) not in lists[0]:
                raise Bad("H(r || nonce) is not in the first list")
        value = None
        for i, lst in enumerate(lists):
            vals = list(lst) if value is None else list(lst) + [value]
            if i == 0 and len(vals) == 1 and reading == "as-is":
                value = vals[0]
                continue
            value = H(alg, b"".join(sorted(vals)))
    if tok_alg != alg or value != imprint:
        raise Bad("root %s differs from the token's messageImprint %s"
                  % (value.hex(), imprint.hex()))
    return value


def batch(listfile, reading):
    n = 0
    with open(listfile) as f:
        for line in f:
            path, digest, nonce = line.split()
            nonce = None if nonce == "-" else \
                b"" if nonce == "none" else bytes.fromhex(nonce)
            with open(path, "rb") as g:
                der = g.read()
            try:
                verify(der, bytes.fromhex(digest), reading, nonce)
            except (Bad, IndexError, ValueError) as e:
                print("FAIL: %s: %s" % (path, e))
                return 1
            n += 1
    print("OK %d records" % n)
    return 0


def main(argv):
    reading, nonce, digest, path = "literal", None, None, None
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--reading":
            reading = args.pop(0)
        elif a == "--nonce":
            v = args.pop(0)
            nonce = b"" if v == "none" else bytes.fromhex(v)
        elif a == "--batch":
            return batch(args.pop(0), reading)
        elif a == "--digest":
            digest = bytes.fromhex(args.pop(0))
        else:
            path = a
    if digest is None or path is None or reading not in ("literal", "as-is"):
        print("\n".join(__doc__.strip().splitlines()[-2:]), file=sys.stderr)
        return 2
    with open(path, "rb") as f:
        der = f.read()
    try:
        root = verify(der, digest, reading, nonce)
    except (Bad, IndexError, ValueError) as e:
        print("FAIL: %s" % e)
        return 1
    print("OK root=%s" % root.hex())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
