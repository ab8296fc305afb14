# carimbo: one executable, subcommands. See README.md and the notes in doc/.
#
#   make            build build/carimbo
#   make test       build and run every test (unit + integration)
#   make test SAN=1 the same under ASan+UBSan (objects in build-san/)
#   make valgrind   the server under valgrind --leak-check=full (about
#                   half a minute; not in make test)
#   make run        deps + build + demo state in ./state + serve on 127.0.0.1
#   make deps       install the Debian 12 packages (apt-get; sudo when not root)
#   make soak       the long fault and load runs (minutes)
#   make install    install under PREFIX (/usr/local), DESTDIR for staging
#   make deb        build/deb/carimbo_VERSION_ARCH.deb (dpkg-buildpackage)
#   make fuzz       build the libFuzzer targets (clang; a target that
#                   #includes a .c under test is linked without its object)
#   make clean

PKGS     := openssl liburing libsodium libp11 sqlite3
CC       ?= cc
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wpointer-arith -Wsign-compare
# p11-kit-1 only for <p11-kit/pkcs11.h>; the module itself is dlopen'ed.
CPPFLAGS += -I. -D_GNU_SOURCE $(shell pkg-config --cflags $(PKGS) p11-kit-1 2>/dev/null)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -ldl

# Hardening, as Debian's hardening=+all asks: stack protector and clash
# protection, CET, PIE, full RELRO with immediate binding, and (not under
# the sanitizers, which intercept the same calls) fortified libc calls.
# tests/integration/hardening.sh checks the binary for each.
HARDEN   := -fstack-protector-strong -fstack-clash-protection \
            -fcf-protection -fPIE
LDFLAGS  += -pie -Wl,-z,relro,-z,now
ifneq ($(SAN),1)
HARDEN   += -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3
endif

ifeq ($(SAN),1)
B        ?= build-san
CFLAGS   += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
else
B        ?= build
endif

SRC      := $(wildcard common/*.c tsa/*.c ca/*.c ntp/*.c bench/*.c)
OBJ      := $(SRC:%.c=$(B)/%.o)
# The dispatcher and the appliance's set-up, which draws on tsa/, ca/ and
# ntp/ at once: in the executable only, not in the tests' archive.
TOP_SRC  := main.c init.c version.c
TOP_OBJ  := $(TOP_SRC:%.c=$(B)/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)

STATE    ?= state

# The version's one place is debian/changelog's first line, which the
# package needs anyway; the commit is the build's (with -dirty when the
# tree differs from it), or CARIMBO_COMMIT as `make deb` passes it to a
# build outside the tree.
VERSION  := $(or $(shell awk 'NR == 1 { gsub(/[()]/, "", $$2); \
                print $$2 }' debian/changelog 2>/dev/null),unknown)
CARIMBO_COMMIT ?= $(or $(shell git describe --always --dirty --abbrev=12 \
                --exclude='*' 2>/dev/null),unknown)

all: $(B)/carimbo

$(B)/%.o: %.c $(wildcard *.h */*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(HARDEN) $(WARN) -c -o $@ $<

# What `carimbo --version` and /metrics say of the build.  Rewritten only
# when it changes, so a new commit recompiles common/build.c alone (and
# relinks what uses the archive).
$(B)/buildinfo.h: FORCE
	@mkdir -p $(B)
	@printf '#define CARIMBO_VERSION "%s"\n#define CARIMBO_COMMIT "%s"\n#define CARIMBO_LIBURING "%s"\n' \
	    '$(VERSION)' '$(CARIMBO_COMMIT)' \
	    "$$(pkg-config --modversion liburing 2>/dev/null || echo unknown)" \
	    >$@.new
	@if cmp -s $@.new $@; then rm $@.new; else mv $@.new $@; fi

$(B)/common/build.o: $(B)/buildinfo.h
$(B)/common/build.o: CPPFLAGS += -I$(B)

$(B)/libcarimbo.a: $(OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/carimbo: $(TOP_OBJ) $(B)/libcarimbo.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# A unit test may #include the .c under test to reach its static functions;
# the archive then supplies only what the test does not define itself.
$(B)/tests/%: tests/unit/%.c $(B)/libcarimbo.a $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(HARDEN) $(WARN) -Wno-missing-prototypes \
	    $(shell pkg-config --cflags cmocka) -o $@ $< $(B)/libcarimbo.a \
	    $(LDFLAGS) $(LDLIBS) $(shell pkg-config --libs cmocka)

# The PKCS#11 module that fails on command (tests/integration/p11_faults.py):
# loaded by the server in place of SoftHSM2, which it forwards to.  Not
# sanitized: the server's sanitizers see every call it makes.
$(B)/tests/p11fault.so: tests/tools/p11fault.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -O2 -g -fPIC -shared $(WARN) -o $@ $< -ldl -lpthread

# The tests' FUSE file system that fails writes and syncs on command.
$(B)/tests/faultfs: tests/tools/faultfs.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(HARDEN) $(WARN) $(shell pkg-config --cflags fuse3) \
	    -o $@ $< $(LDFLAGS) $(shell pkg-config --libs fuse3)

test: $(B)/carimbo $(UNIT_BIN) $(B)/tests/p11fault.so $(B)/tests/faultfs
	@B=$(B) tests/run.sh

# Debian 12 packages to build, run and test. Idempotent: quick when present.
# Without their recommends (devscripts, for hardening-check, would bring
# some 200 more packages).
DEPS := build-essential pkg-config openssl libssl-dev liburing-dev \
        libsodium-dev libp11-dev libp11-kit-dev libcmocka-dev softhsm2 curl \
        python3 libsqlite3-dev sqlite3 gnutls-bin opensc chrony libxml2-utils \
        strace faketime libfuse3-dev fuse3 devscripts valgrind systemd \
        dpkg-dev debhelper lintian mandoc haproxy
deps:
	@missing=""; for p in $(DEPS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' \
	    || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  S=; [ "$$(id -u)" -eq 0 ] || S=sudo; \
	  $$S apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$S apt-get install -y -qq \
	    --no-install-recommends $$missing; \
	fi

# Where `make install` puts things.  The package (debian/rules) sets
# PREFIX=/usr SYSCONFDIR=/etc UNITDIR=/lib/systemd/system.  The units'
# Exec lines are given BINDIR's carimbo and SYSCONFDIR's carimbo.conf.
# Nothing here creates the user or the state directory: systemd-sysusers
# and systemd-tmpfiles do, from the files installed (the package's
# scripts call them).
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
DOCDIR      ?= $(PREFIX)/share/doc/carimbo
SYSCONFDIR  ?= $(PREFIX)/etc
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
UNITS       := $(wildcard systemd/*.service systemd/*.socket systemd/*.timer)
MANS        := doc/carimbo.1 doc/carimbo.conf.5

install: $(B)/carimbo
	install -d $(DESTDIR)$(BINDIR) \
	    $(patsubst .%,$(DESTDIR)$(MANDIR)/man%,$(sort $(suffix $(MANS)))) \
	    $(DESTDIR)$(DOCDIR)/examples \
	    $(DESTDIR)$(SYSCONFDIR)/carimbo $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	install -m 0755 $(B)/carimbo $(DESTDIR)$(BINDIR)/carimbo
	for m in $(MANS); do install -m 0644 $$m \
	    $(DESTDIR)$(MANDIR)/man$${m##*.}/ || exit 1; done
	install -m 0644 README.md doc/*.md $(DESTDIR)$(DOCDIR)/
	install -m 0644 conf/* $(DESTDIR)$(DOCDIR)/examples/
	@# The operator's copy: never overwritten.
	[ -e $(DESTDIR)$(SYSCONFDIR)/carimbo/carimbo.conf ] || \
	  install -m 0644 conf/carimbo.conf $(DESTDIR)$(SYSCONFDIR)/carimbo/
	for u in $(UNITS); do \
	  sed -e 's|^\(Exec[A-Za-z]*=[-@!:+]*\)[^ ]*/carimbo |\1$(BINDIR)/carimbo |' \
	    -e 's| /etc/carimbo/carimbo.conf| $(SYSCONFDIR)/carimbo/carimbo.conf|' \
	    $$u >$(DESTDIR)$(UNITDIR)/$${u##*/} && \
	  chmod 0644 $(DESTDIR)$(UNITDIR)/$${u##*/} || exit 1; done
	install -m 0644 systemd/carimbo.sysusers \
	    $(DESTDIR)$(SYSUSERSDIR)/carimbo.conf
	install -m 0644 systemd/carimbo.tmpfiles \
	    $(DESTDIR)$(TMPFILESDIR)/carimbo.conf

# The package is built from a copy of the tree (the files git knows, as
# they are now) in build/deb, never from this tree: dpkg-buildpackage
# cleans the tree it builds in (make clean) and writes to its parent.
# The package's build is a plain one with Debian's flags, whatever SAN or
# B this make was given.  lintian must find no error.
DEB_DIR  := build/deb
DEB_SRC  := $(DEB_DIR)/carimbo-$(VERSION)
deb:
	@for t in dpkg-buildpackage dh lintian; do command -v $$t >/dev/null \
	  || { echo "deb: no $$t (make deps)"; exit 1; }; done
	rm -rf $(DEB_DIR)
	mkdir -p $(DEB_SRC)
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
	  git ls-files -co --exclude-standard | \
	    while IFS= read -r f; do [ -e "$$f" ] && echo "$$f"; done | \
	    tar -cf - -T - | tar -xf - -C $(DEB_SRC); \
	else \
	  tar --exclude='./build*' --exclude=./state --exclude=./.git \
	    -cf - . | tar -xf - -C $(DEB_SRC); \
	fi
	cd $(DEB_SRC) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u SAN -u B \
	    CARIMBO_COMMIT='$(CARIMBO_COMMIT)' \
	    dpkg-buildpackage -b -us -uc -j$$(nproc)
	lintian --fail-on error $(DEB_DIR)/carimbo_$(VERSION)_*.deb
	@ls $(DEB_DIR)/carimbo_$(VERSION)_*.deb

run: deps all
	@if [ ! -f $(STATE)/carimbo.conf ]; then $(B)/carimbo init --demo $(STATE); fi
	$(B)/carimbo serve -c $(STATE)/carimbo.conf

# The standard comparison (doc/design.md "Performance contract"): a demo
# server on loopback, the signing and HTTP ceilings, / and /ers, one table
# with the ratios and the server's peak RSS, the live rounds of 1,000 and
# 102,400 requests (bench/rounds.py), then the performance targets with
# each one's figure of this sitting.  A few minutes; results in
# $(B)/bench-run.
bench: $(B)/carimbo
	@python3 bench/suite.py --carimbo $(B)/carimbo --out $(B)/bench-run

# The long runs of the fault and load tests (minutes, not in make test):
# hostile clients at 10,000 connections beside a well-behaved bench; then
# crash_cycles.py at length, 50 kill -9 cycles under mixed load and 500
# kills of ca commands, each restart proven, and the totals (3 to 15
# minutes on 2 cores, as loaded; `make test` runs 3 cycles).
SOAK_CYCLES ?= 50
SOAK_TOKEN_KILLS ?= 500
soak: $(B)/carimbo
	@CARIMBO=$(CURDIR)/$(B)/carimbo python3 tests/integration/hostile.py --soak
	@CARIMBO=$(CURDIR)/$(B)/carimbo python3 tests/integration/crash_cycles.py \
	    --cycles $(SOAK_CYCLES) --token-kills $(SOAK_TOKEN_KILLS)

# A short server run under valgrind's memcheck: any error or leak fails
# (tests/valgrind.py; suppressions in tests/valgrind.supp).
valgrind: $(B)/carimbo
	@CARIMBO=$(B)/carimbo python3 tests/valgrind.py

fuzz: $(B)/libcarimbo.a
	@mkdir -p build-fuzz
	@for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
	  echo "  FUZZ $$n"; \
	  srcs=; for s in $(SRC); do \
	    grep -q "^#include \"$$s\"" $$f || srcs="$$srcs $$s"; done; \
	  clang $(CPPFLAGS) -I$(B) -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined \
	    -o build-fuzz/$$n $$f $$srcs $(LDLIBS) || exit 1; \
	done

clean:
	rm -rf build build-san build-fuzz

FORCE:

.PHONY: all test deps run bench soak valgrind fuzz clean install deb FORCE
