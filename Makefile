# SPDX-License-Identifier: BSD-2-Clause
# sav-milter - sender address verification milter
#
#   make            build sav-probe, sav-cache, sav-milter
#   make check      install missing packages (as root), unit tests, the
#                   same under ASan+UBSan, the integration lab, man lint
#   make demo       the whole thing end to end in a private namespace
#   make bench      cache benchmark (not a test)
#   make bench-probe round trips of a first probe at 20 and 100 ms RTT,
#                   before/after pipelining the catch-all RCPT (not a
#                   test; root: a private network namespace)
#   make bench-starttls what STARTTLS adds to a first probe (round trips,
#                   ms, CPU) against the same Postfix (root; not a test)
#   make bench-milter  throughput behind a real Postfix: no milter, a no-op
#                   milter, sav-milter (root; not a test, not in make check)
#   make bench-fleet   three sav-milter hosts on one Redis: shared hit
#                   against LMDB hit, probes per new sender, MAIL FROM
#                   with Redis paused (root; not a test)
#   make soak       sav-milter behind Postfix for SOAK_S seconds (1800)
#                   under faults, every decision checked (not in check)
#   make fuzz       every libFuzzer target for FUZZ_S seconds (60) each,
#                   after replaying tests/fuzz/regress (clang-14); make
#                   check runs them FUZZ_CI_S (15) s each (fuzz-ci)
#   make analyze    scan-build and cppcheck over probe/ and milter/
#   make fuzz-peer  the hostile-peer fuzzer (lab, root) for FUZZ_PEER_N
#                   dialogues (5000); make check's lab runs 300
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX	?= /usr/local
SBINDIR	?= $(PREFIX)/sbin
BINDIR	?= $(PREFIX)/bin
MANDIR	?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR	?= /lib/systemd/system

CC	?= cc
PKGS	:= milter ldns lmdb libidn2 openssl hiredis
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

OPT	?= -O2 -g
WARN	:= -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wno-unused-parameter
# the probe library's folders, lowest first: core/ knows nothing of
# sockets, net/ does the I/O, cache/ the store, spf/ the SPF check,
# fleet/ the shared cache, probe/ ties them together
INCS	:= -Iprobe/core -Iprobe/net -Iprobe/cache -Iprobe/spf -Iprobe/fleet -Iprobe
# -MMD -MP: each object lists the headers it really includes (build/**/*.d)
CFLAGS	+= -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(PKG_CFLAGS) $(INCS) -pthread -MMD -MP
LDLIBS	+= $(PKG_LIBS) -pthread

# SAN=1 builds everything into build-san with AddressSanitizer and
# UndefinedBehaviorSanitizer (CI runs the unit suites this way).
ifeq ($(SAN),1)
B	:= build-san
CFLAGS	+= -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS	+= -fsanitize=address,undefined
else
B	:= build
endif

# --- what each program is made of ---------------------------------------
CORE_SRC := probe/core/util.c probe/core/sa.c probe/core/verdict.c probe/core/reply.c \
	probe/core/addr.c probe/core/target.c probe/core/log.c \
	probe/core/result.c probe/core/dialog.c
NET_SRC	:= probe/net/netio.c probe/net/tls.c probe/net/dnsq.c probe/net/dns.c probe/net/smtp_io.c probe/net/smtp.c
CACHE_SRC := probe/cache/cache_rec.c probe/cache/cache_env.c \
	probe/cache/cache.c probe/cache/cache_evict.c probe/cache/cache_admin.c
PROBE_SRC := probe/share.c probe/learn.c probe/probe.c probe/limit_client.c probe/limit_mx.c probe/limit.c \
	probe/conf.c
SPF_SRC	:= probe/spf/spf.c probe/spf/spf_macro.c probe/spf/spf_dns.c
# fleet/: the shared cache (Redis) that several MX hosts use together
FLEET_SRC := probe/fleet/rconn.c probe/fleet/rrec.c probe/fleet/rcache.c \
	probe/fleet/radmin.c
# the fleet-wide single flight and limits
FLEET_SRC += probe/fleet/flock.c probe/fleet/flimit.c probe/fleet/fcoord.c
LIB_SRC	:= $(CORE_SRC) $(NET_SRC) $(CACHE_SRC) $(SPF_SRC) $(FLEET_SRC) $(PROBE_SRC)
LIB	:= $(B)/libsav.a
SAV_PROBE_SRC := probe/cmd/sav_probe.c probe/cmd/print.c
SAV_CACHE_SRC := probe/cmd/sav_cache.c probe/cmd/why.c probe/cmd/print.c probe/cmd/stats_show.c
# the milter without its main(): the unit suites link it too
MILTER_LIB_SRC := milter/ctx.c milter/decide.c milter/logline.c milter/handlers.c milter/macro.c \
	milter/daemon.c milter/signals.c milter/run.c milter/spfgate.c \
	milter/stats.c milter/stats_fmt.c milter/stats_file.c
MILTER_LIB := $(B)/libsavmilter.a
MILTER_SRC := milter/main.c
FAKE_SMTPD_SRC := tests/tools/fake_smtpd.c tests/tools/fake_smtpd/script.c \
	tests/tools/fake_smtpd/conn.c tests/tools/fake_smtpd/tls.c
# one-file tools: tests/tools/NAME.c -> build/tests/NAME
TOOL_NAMES := bench_cache noop_milter rtt_relay smtp_load fuzz_peer
# the fleet's benchmark tool (make bench-fleet)
TOOL_NAMES += bench_fleet
UNIT_NAMES := $(patsubst tests/%.c,%,$(wildcard tests/check_*.c))

obj	= $(patsubst %.c,$(B)/%.o,$(1))
LIB_OBJ	:= $(call obj,$(LIB_SRC))
MILTER_LIB_OBJ := $(call obj,$(MILTER_LIB_SRC))
PROGS	:= $(B)/sav-probe $(B)/sav-cache $(B)/sav-milter
UNITS	:= $(UNIT_NAMES:%=$(B)/tests/%)
TOOLS	:= $(TOOL_NAMES:%=$(B)/tests/%) $(B)/tests/fake_smtpd
ALL_OBJ	:= $(LIB_OBJ) $(MILTER_LIB_OBJ) $(call obj,$(SAV_PROBE_SRC) $(SAV_CACHE_SRC) \
	$(MILTER_SRC) $(FAKE_SMTPD_SRC)) $(UNITS:%=%.o) \
	$(TOOL_NAMES:%=$(B)/tests/tools/%.o)

.SECONDARY:
.PHONY: all check unit unit-san lab manlint srclint deps demo bench bench-probe bench-starttls bench-milter soak install uninstall clean \
	fuzz fuzz-ci fuzz-regress fuzz-build analyze fuzz-peer

all: $(PROGS) $(TOOLS)

$(B)/probe/%.o: probe/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<
$(B)/milter/%.o: milter/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Imilter -c -o $@ $<
$(B)/tests/tools/%.o: tests/tools/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests -c -o $@ $<
$(B)/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests -Imilter -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^
$(MILTER_LIB): $(MILTER_LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(B)/sav-probe: $(call obj,$(SAV_PROBE_SRC)) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/sav-cache: $(call obj,$(SAV_CACHE_SRC)) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/sav-milter: $(call obj,$(MILTER_SRC)) $(MILTER_LIB) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/tests/check_%: $(B)/tests/check_%.o $(MILTER_LIB) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CHECK_LIBS)
$(B)/tests/fake_smtpd: $(call obj,$(FAKE_SMTPD_SRC)) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/tests/%: $(B)/tests/tools/%.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

-include $(ALL_OBJ:.o=.d)

# make check: the README's one test command.
check: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) SAN=1 unit-san
	$(MAKE) manlint
	$(MAKE) srclint
	$(MAKE) lab
	$(MAKE) fuzz-ci
	$(MAKE) analyze

deps:
	@sh tests/deps.sh

unit: $(UNITS) $(TOOLS) $(B)/sav-cache $(B)/sav-probe
	@sh tests/run-units.sh $(UNITS)

unit-san: $(UNITS) $(TOOLS) $(B)/sav-cache $(B)/sav-probe $(B)/sav-milter
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		sh tests/run-units.sh $(UNITS)

lab: all
	@sh tests/lab/run.sh

manlint:
	@sh tests/manlint.sh

srclint:
	@sh tests/srclint.sh

# --- coverage-guided fuzzing (libFuzzer, clang 14) ----------------------
# Everything is built again into build/fuzz with -fsanitize=fuzzer-no-link
# plus ASan and UBSan, so fuzz objects never mix with build/ or
# build-san/. One binary per target: tests/fuzz/fuzz_NAME.c ->
# build/fuzz/fuzz_NAME; seeds in tests/fuzz/corpus/NAME, inputs that
# once failed in tests/fuzz/regress/NAME (replayed on every run).
FUZZ_CC	?= clang-14
FUZZ_S	?= 60
# make check: each target FUZZ_CI_S seconds (15), after the regression inputs
FUZZ_CI_S ?= 15
FZ	:= build/fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 $(WARN) $(PKG_CFLAGS) $(INCS) -Imilter -Itests/fuzz \
	-pthread -MMD -MP $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_NAMES := reply addr dns conf cache_rec milter smtp spf rrec stats
FUZZ_BINS := $(FUZZ_NAMES:%=$(FZ)/fuzz_%)
FUZZ_LIB_OBJ := $(patsubst %.c,$(FZ)/%.o,$(LIB_SRC))
# the milter's handlers without libmilter: fuzz_milter.c stands in for it
FUZZ_MILTER_OBJ := $(patsubst %.c,$(FZ)/%.o,milter/ctx.c milter/decide.c milter/logline.c \
	milter/handlers.c milter/macro.c milter/spfgate.c milter/stats.c)
FUZZ_COMMON_OBJ := $(FZ)/tests/fuzz/fakenet.o

$(FZ)/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<
$(FZ)/libsav.a: $(FUZZ_LIB_OBJ)
	rm -f $@ && ar rcs $@ $^
# fuzz_milter.o comes first and defines limit_verdict_parsed (the probe's
# answer is input there): the first definition wins over limit.o's
$(FZ)/fuzz_milter: $(FZ)/tests/fuzz/fuzz_milter.o $(FUZZ_MILTER_OBJ) $(FUZZ_COMMON_OBJ) $(FZ)/libsav.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -Wl,--allow-multiple-definition -o $@ $^ \
		$(filter-out -lmilter,$(PKG_LIBS)) -pthread
# the StatsFile both ways: the milter's counters and formatter, sav-cache's reader (compiled in)
$(FZ)/fuzz_stats: $(FZ)/tests/fuzz/fuzz_stats.o $(FZ)/milter/stats.o $(FZ)/milter/stats_fmt.o \
		$(FUZZ_COMMON_OBJ) $(FZ)/libsav.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS) -pthread
$(FZ)/fuzz_%: $(FZ)/tests/fuzz/fuzz_%.o $(FUZZ_COMMON_OBJ) $(FZ)/libsav.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS) -pthread

-include $(wildcard $(FZ)/*/*.d $(FZ)/*/*/*.d $(FZ)/*/*/*/*.d)

fuzz-build: $(FUZZ_BINS)
# make fuzz: FUZZ_S seconds per target; fails on any crash, leak, time-out
# or sanitizer report (tests/fuzz/run.sh)
fuzz: fuzz-build
	@sh tests/fuzz/run.sh $(FUZZ_S) $(FUZZ_NAMES)
fuzz-ci: fuzz-build
	@sh tests/fuzz/run.sh $(FUZZ_CI_S) $(FUZZ_NAMES)
fuzz-regress: fuzz-build
	@sh tests/fuzz/run.sh 0 $(FUZZ_NAMES)

# make fuzz-peer: the hostile-peer fuzzer of the lab for FUZZ_PEER_N
# dialogues (5000) with a new seed (FUZZ_PEER_SEED to repeat one), against
# the ASan+UBSan sav-probe; make check runs 300 with seed 1 in the lab
FUZZ_PEER_N ?= 5000
fuzz-peer: all
	$(MAKE) SAN=1 build-san/sav-probe
	@FUZZPEER_N=$(FUZZ_PEER_N) FUZZPEER_SEED=$${FUZZ_PEER_SEED:-$$(date +%s)} LAB_ONLY=fuzzpeer \
		sh tests/lab/run.sh

# make analyze: the clang static analyser (scan-build, clang-tools-14)
# over a fresh build of the three programs in build/scan, and cppcheck
# over probe/ and milter/; fails on any report. A suppression is a
# comment on the line itself ("cppcheck-suppress id" with the reason).
# The parsers of untrusted bytes are also compiled with -Wconversion
# -Wsign-conversion: every narrowing or sign change there is written out.
CONV_SRC := probe/core/reply.c probe/core/addr.c probe/core/dialog.c probe/net/netio.c \
	probe/net/dns.c probe/net/smtp.c probe/net/smtp_io.c probe/cache/cache_rec.c probe/fleet/rrec.c \
	probe/spf/spf.c probe/spf/spf_macro.c probe/conf.c milter/macro.c
analyze:
	for f in $(CONV_SRC); do \
		$(CC) $(filter-out -MMD -MP,$(CFLAGS)) -Wconversion -Wsign-conversion -Imilter -fsyntax-only $$f || exit 1; \
	done
	rm -rf build/scan
	scan-build-14 --use-cc=$(FUZZ_CC) -o build/scan/report --status-bugs \
		$(MAKE) -s B=build/scan CC=$(FUZZ_CC) build/scan/sav-probe build/scan/sav-cache build/scan/sav-milter
	cppcheck -q --enable=warning,portability --inline-suppr --error-exitcode=1 --std=c11 \
		-D_GNU_SOURCE $(INCS) -Imilter probe milter
	@echo "analyze: -Wconversion on the parsers, scan-build and cppcheck clean"

demo: deps
	$(MAKE) all
	@sh tests/lab/demo.sh

bench: all $(B)/tests/bench_cache
	$(B)/tests/bench_cache

bench-probe: all
	@bash tests/bench/bench-probe.sh
bench-starttls: all
	@BENCH_MODE=tls bash tests/bench/bench-probe.sh
bench-milter: all
	@bash tests/bench/bench-milter.sh
# make bench-fleet: three hosts on one Redis (root; not a test)
.PHONY: bench-fleet
bench-fleet: all
	@bash tests/bench/bench-fleet.sh
# make soak: SOAK_S=300 make soak for a shorter run; tests/soak/soak.sh
# lists the other settings
soak: all
	@bash tests/soak/soak.sh

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 755 $(B)/sav-probe $(DESTDIR)$(BINDIR)/sav-probe
	install -m 755 $(B)/sav-cache $(DESTDIR)$(SBINDIR)/sav-cache
	if [ -f $(B)/sav-milter ]; then install -m 755 $(B)/sav-milter $(DESTDIR)$(SBINDIR)/sav-milter; fi
	for m in doc/*.[158]; do [ -f "$$m" ] || continue; s=$${m##*.}; install -m 644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done
	if [ -f etc/sav-milter.conf ] && [ ! -f $(DESTDIR)$(SYSCONFDIR)/sav-milter.conf ]; then \
		install -d $(DESTDIR)$(SYSCONFDIR); install -m 644 etc/sav-milter.conf $(DESTDIR)$(SYSCONFDIR)/sav-milter.conf; fi
	if [ -f etc/sav-milter.service ]; then install -d $(DESTDIR)$(UNITDIR); \
		sed 's,@SBINDIR@,$(SBINDIR),g' etc/sav-milter.service > $(DESTDIR)$(UNITDIR)/sav-milter.service; fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/sav-probe $(DESTDIR)$(SBINDIR)/sav-cache $(DESTDIR)$(SBINDIR)/sav-milter
	rm -f $(DESTDIR)$(MANDIR)/man1/sav-probe.1 $(DESTDIR)$(MANDIR)/man5/sav-milter.conf.5 \
		$(DESTDIR)$(MANDIR)/man8/sav-milter.8 $(DESTDIR)$(MANDIR)/man8/sav-cache.8
	rm -f $(DESTDIR)$(UNITDIR)/sav-milter.service
	@echo "left $(DESTDIR)$(SYSCONFDIR)/sav-milter.conf in place (your configuration)"

clean:
	rm -rf build build-san
