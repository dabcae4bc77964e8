# sav-milter - sender address verification milter
#
#   make            build sav-probe, sav-cache, sav-milter
#   make check      install missing packages (as root), unit tests, the
#                   same under ASan+UBSan, the integration lab, man lint
#   make demo       the whole thing end to end in a private namespace
#   make bench      cache benchmark (not a test)
#   make soak       sav-milter behind Postfix for SOAK_S seconds (1800)
#                   under faults, every decision checked (not in check)
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX	?= /usr/local
SBINDIR	?= $(PREFIX)/sbin
BINDIR	?= $(PREFIX)/bin
MANDIR	?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR	?= /lib/systemd/system

CC	?= cc
PKGS	:= milter ldns lmdb libidn2
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

OPT	?= -O2 -g
WARN	:= -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wno-unused-parameter
CFLAGS	+= -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(PKG_CFLAGS) -Iprobe -pthread
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

LIB_SRC	:= $(filter-out probe/sav_probe.c probe/sav_cache.c,$(wildcard probe/*.c))
LIB_OBJ	:= $(LIB_SRC:probe/%.c=$(B)/probe/%.o)
LIB	:= $(B)/libsav.a
MILTER_SRC := $(wildcard milter/*.c)
MILTER_OBJ := $(MILTER_SRC:milter/%.c=$(B)/milter/%.o)

PROGS	:= $(B)/sav-probe $(B)/sav-cache $(if $(MILTER_SRC),$(B)/sav-milter)
UNIT_SRC := $(wildcard tests/check_*.c)
UNITS	:= $(UNIT_SRC:tests/%.c=$(B)/tests/%)
TOOLS_SRC := $(wildcard tests/tools/*.c)
TOOLS	:= $(TOOLS_SRC:tests/tools/%.c=$(B)/tests/%)
HDRS	:= $(wildcard probe/*.h milter/*.h tests/*.h tests/tools/*/*.h)

.SECONDARY:
.PHONY: all check unit unit-san lab manlint deps demo bench soak install uninstall clean

all: $(PROGS) $(TOOLS)

$(B)/probe/%.o: probe/%.c $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<
$(B)/milter/%.o: milter/%.c $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Imilter -c -o $@ $<
$(B)/tests/%.o: tests/%.c $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests -c -o $@ $<
$(B)/tests/tools/%.o: tests/tools/%.c $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(B)/sav-probe: $(B)/probe/sav_probe.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/sav-cache: $(B)/probe/sav_cache.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/sav-milter: $(MILTER_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/tests/check_%: $(B)/tests/check_%.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CHECK_LIBS)
$(B)/tests/%: $(B)/tests/tools/%.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
# a tool of several files: tests/tools/NAME.c (main) plus tests/tools/NAME/*.c
FAKE_SMTPD_OBJ := $(patsubst tests/tools/%.c,$(B)/tests/tools/%.o,$(wildcard tests/tools/fake_smtpd/*.c))
$(B)/tests/fake_smtpd: $(B)/tests/tools/fake_smtpd.o $(FAKE_SMTPD_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# make check: the README's one test command.
check: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) SAN=1 unit-san
	$(MAKE) manlint
	$(MAKE) lab

deps:
	@sh tests/deps.sh

unit: $(UNITS) $(TOOLS) $(B)/sav-cache $(B)/sav-probe
	@sh tests/run-units.sh $(UNITS)

unit-san: $(UNITS) $(TOOLS) $(B)/sav-cache $(B)/sav-probe
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		sh tests/run-units.sh $(UNITS)

lab: all
	@sh tests/lab/run.sh

manlint:
	@sh tests/manlint.sh

demo: deps
	$(MAKE) all
	@sh tests/lab/demo.sh

bench: all $(B)/tests/bench_cache
	$(B)/tests/bench_cache

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

# bench_cache is a tool built from tests/tools/bench_cache.c
$(B)/tests/bench_cache: $(B)/tests/tools/bench_cache.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
