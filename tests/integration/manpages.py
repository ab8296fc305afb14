#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
#
# The man pages against the code.  doc/carimbo.1 and doc/carimbo.conf.5
# pass `mandoc -Tlint`; the commands carimbo's usage lists are the
# sections of carimbo(1)'s COMMANDS; each command's options, read off
# its usage text (`carimbo CMD --help`), are the options (Fl) of its
# section, both ways, and the top level's usage matches the SYNOPSIS; the
# keys the code reads (conf_* calls with a literal key) are the keys
# carimbo.conf(5) describes, both ways, and every key set in
# conf/carimbo.conf is one of them.
import glob
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CARIMBO = os.environ.get("CARIMBO", os.path.join(ROOT, "build", "carimbo"))
PAGES = [os.path.join(ROOT, "doc", p) for p in ("carimbo.1", "carimbo.conf.5")]
OPT = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")
MACRO = re.compile(r"^[A-Z][a-z]{1,2}$")
KEYCALL = re.compile(r"\b(?:conf_(?:str|int|bool|path|nth|fatal)|cfg_ms)"
                     r"\(\s*[^,()]+,\s*\"([A-Za-z0-9_]+)\"")

fails = []


def fail(msg):
    fails.append(msg)
    print("FAIL: " + msg)


def lint():
    """mandoc -Tlint, every level down to style.  "referenced manual not
    found" is left out: it says which pages this machine has installed
    (carimbo(1) and carimbo.conf(5) cite each other before either is)."""
    for page in PAGES:
        p = subprocess.run(["mandoc", "-Tlint", "-W", "style", page],
                           capture_output=True, text=True)
        for line in (p.stdout + p.stderr).splitlines():
            if ("referenced manual not found" in line or
                    "outdated mandoc.db" in line):
                continue
            fail(line)


def usage(*args):
    """The usage text carimbo prints for args, from "usage:" on."""
    p = subprocess.run([CARIMBO, *args], capture_output=True, text=True)
    out = p.stdout + p.stderr
    i = out.find("usage:")
    if i == -1:
        fail("carimbo %s: no usage text" % " ".join(args))
        return ""
    return out[i:]


def man_sections(page):
    """{".Sh NAME" or ".Ss NAME": [macro lines]} of an mdoc page."""
    secs, cur = {}, None
    for line in open(page):
        line = line.rstrip("\n")
        if line.startswith(".Sh ") or line.startswith(".Ss "):
            cur = line
            secs[cur] = []
        elif cur is not None:
            secs[cur].append(line)
    return secs


def man_flags(lines):
    """The options (Fl arguments) in mdoc lines, with their dashes."""
    flags = set()
    for line in lines:
        if not line.startswith("."):
            continue
        toks = line[1:].split()
        for i, t in enumerate(toks):
            if t != "Fl":
                continue
            for a in toks[i + 1:]:
                if MACRO.match(a) or not re.match(r"^-?[A-Za-z0-9][\w-]*$",
                                                  a):
                    break
                flags.add("-" + a)
    return flags


def compare(what, in_usage, in_man):
    for o in sorted(in_usage - in_man):
        fail("%s: %s is in the usage, not in carimbo(1)" % (what, o))
    for o in sorted(in_man - in_usage):
        fail("%s: %s is in carimbo(1), not in the usage" % (what, o))


def commands():
    top = usage("--help")
    head, _, listing = top.partition("commands:")
    secs = man_sections(PAGES[0])
    compare("carimbo", set(OPT.findall(head)),
            man_flags(secs.get(".Sh SYNOPSIS", [])))
    cmds = re.findall(r"^  (\S+)\s", listing, re.M)
    if len(cmds) < 8:
        fail("carimbo --help lists %d commands" % len(cmds))
    # The .Ss sections after .Sh COMMANDS, up to the next .Sh.
    documented, inside = [], False
    for name in secs:
        if name.startswith(".Sh "):
            inside = name == ".Sh COMMANDS"
        elif inside:
            documented.append(name[4:])
    for c in cmds:
        if c not in documented:
            fail("command %s has no section in carimbo(1)" % c)
            continue
        compare(c, set(OPT.findall(usage(c, "--help"))),
                man_flags(secs[".Ss " + c]))
    for c in documented:
        if c not in cmds:
            fail("carimbo(1) documents %s, which carimbo --help does not "
                 "list" % c)
    return len(cmds)


def code_keys():
    keys = set()
    for f in glob.glob(os.path.join(ROOT, "**", "*.c"), recursive=True):
        rel = os.path.relpath(f, ROOT)
        if rel.startswith(("tests", "build")):
            continue
        keys |= set(KEYCALL.findall(open(f).read()))
    return keys


def man_keys():
    """Keys of carimbo.conf(5): ".It Cm KEY", and "Cm KEY" after a comma
    on the same .It line (keys described together)."""
    keys = set()
    for line in open(PAGES[1]):
        toks = line.split()
        if not toks or toks[0] != ".It":
            continue
        for i, t in enumerate(toks):
            if t == "Cm" and i + 1 < len(toks) and (i == 1 or
                                                    toks[i - 1] == ","):
                keys.add(toks[i + 1])
    return keys


def conf_keys():
    keys = set()
    for line in open(os.path.join(ROOT, "conf", "carimbo.conf")):
        m = re.match(r"^\s*([A-Za-z0-9_]+)\s*=", line)
        if m:
            keys.add(m.group(1))
    return keys


def main():
    if not os.access(CARIMBO, os.X_OK):
        print("FAIL: %s not built" % CARIMBO)
        return 1
    try:
        lint()
    except FileNotFoundError:
        print("FAIL: mandoc not found (make deps)")
        return 1
    n = commands()
    code, man, example = code_keys(), man_keys(), conf_keys()
    if len(code) < 40:
        fail("only %d keys found in the code: the pattern is stale" %
             len(code))
    for k in sorted(code - man):
        fail("key %s is read by the code, not in carimbo.conf(5)" % k)
    for k in sorted(man - code):
        fail("carimbo.conf(5) describes %s, which no code reads" % k)
    for k in sorted(example - code):
        fail("conf/carimbo.conf sets %s, which no code reads" % k)
    if fails:
        print("manpages.py: %d check(s) failed" % len(fails))
        return 1
    print("manpages.py: %d commands and %d keys agree with the man pages"
          % (n, len(code)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
