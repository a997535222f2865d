# spotsweep build. Every library comes through pkg-config; `make deps` installs what is missing.
# All of src/ except the two entry points goes into build/libspotsweep.a, which both binaries
# and the check unit tests link against, so a new module needs no Makefile change.

PREFIX     ?= /usr/local
DESTDIR    ?=
BUILD      ?= build
BIN        ?= bin
CC         ?= cc
PKGS        = libcurl sqlite3 jansson libevent libpcre2-8 yaml-0.1 check
DEB_PKGS    = pkg-config libcurl4-openssl-dev libsqlite3-dev libjansson-dev libevent-dev \
              libpcre2-dev check openssh-server openssh-client tzdata libyaml-dev python3-yaml \
              slurm-wlm munge
WARN        = -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes
OPT        ?= -O2 -g
EXTRA_CFLAGS ?=
EXTRA_LDFLAGS ?=
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs libcurl sqlite3 jansson libevent libpcre2-8 yaml-0.1 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)
CFLAGS      = -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -Iinclude $(PKG_CFLAGS) $(EXTRA_CFLAGS) -MMD -MP
LDLIBS      = $(PKG_LIBS) -lm -lpthread
LDFLAGS    += $(EXTRA_LDFLAGS)

MAINS       = src/main.c src/agent-main.c
LIB_SRCS    = $(filter-out $(MAINS),$(wildcard src/*.c))
LIB_OBJS    = $(LIB_SRCS:src/%.c=$(BUILD)/%.o)
LIB         = $(BUILD)/libspotsweep.a
CHECK_SRCS  = $(wildcard tests/check_*.c)
CHECK_BINS  = $(CHECK_SRCS:tests/%.c=$(BUILD)/tests/%)
BENCH_SRCS  = $(wildcard tests/bench/*.c)
BENCH_BINS  = $(BENCH_SRCS:tests/bench/%.c=$(BUILD)/bench/%)
FUZZ_SRCS   = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS   = $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/%)
FUZZ_SECONDS ?= 60
# The dashboard's files, compiled into the library as C arrays (tools/embed-assets.sh).
DASH_FILES  = $(wildcard src/dashboard/*)
GEN_OBJS    = $(BUILD)/gen/dashboard-assets.o
# What the tests drive besides the build: Debian's headless Chromium through Selenium for
# /usr/bin/python3 (t-dashboard); man, groff, zsh and systemd-analyze to check the installed
# pages, completions and units (t-install).
TEST_DEB_PKGS = chromium chromium-driver python3-selenium man-db groff-base zsh systemd

.PHONY: all deps test-deps bench-deps test unit integration sanitize bench demo install clean fuzz fuzz-deps \
	fuzz-targets valgrind

all: $(BIN)/spotsweep $(BIN)/spotsweep-agent

$(BUILD)/%.o: src/%.c | $(BUILD)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS) $(GEN_OBJS)
	rm -f $@
	ar rcs $@ $^

# The directory is a prerequisite too, so that adding or removing a file rebuilds.
$(BUILD)/gen/dashboard-assets.c: tools/embed-assets.sh src/dashboard $(DASH_FILES)
	@mkdir -p $(@D)
	tools/embed-assets.sh $@ src/dashboard

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c
	$(CC) $(CFLAGS) -c -o $@ $<

$(BIN)/spotsweep: $(BUILD)/main.o $(LIB) | $(BIN)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BIN)/spotsweep-agent: $(BUILD)/agent-main.o $(LIB) | $(BIN)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(LIB) | $(BUILD)/tests
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) $(CHECK_LIBS)

$(BUILD)/bench/%: tests/bench/%.c $(LIB) | $(BUILD)/bench
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(LIB) | $(BUILD)
	$(CC) $(CFLAGS) -fsanitize=fuzzer $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD) $(BIN) $(BUILD)/tests $(BUILD)/bench:
	mkdir -p $@

# Installs only when pkg-config misses something, so it is free on a set-up machine.
deps:
	@if pkg-config --exists $(PKGS) && command -v sqlite3 >/dev/null && command -v python3 >/dev/null && \
	  { command -v sshd >/dev/null || test -x /usr/sbin/sshd; } && command -v ssh >/dev/null && \
	  test -f /usr/share/zoneinfo/America/New_York && python3 -c 'import yaml' 2>/dev/null && \
	  test -x /usr/sbin/slurmctld && test -x /usr/sbin/slurmd && test -x /usr/sbin/munged && \
	  command -v sbatch >/dev/null; then :; else \
	  echo "make deps: installing Debian packages"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $(DEB_PKGS) sqlite3 python3 >/dev/null; \
	fi

# Installs only what is missing, like deps.
test-deps: deps
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null && \
	  /usr/bin/python3 -c 'import selenium' 2>/dev/null && command -v man >/dev/null && \
	  command -v groff >/dev/null && command -v zsh >/dev/null && \
	  command -v systemd-analyze >/dev/null; then :; else \
	  echo "make test-deps: installing $(TEST_DEB_PKGS)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $(TEST_DEB_PKGS) >/dev/null; \
	fi

unit: all $(CHECK_BINS)
	@set -e; for t in $(CHECK_BINS); do echo "== $$t"; CK_FORK=yes $$t; done

integration: all
	@BIN=$(abspath $(BIN)) tests/integration/run-all.sh

test: deps test-deps
	$(MAKE) unit
	$(MAKE) integration

# A separate tree, so sanitized objects never mix with the normal build.
sanitize: deps test-deps
	$(MAKE) BUILD=build/sanitize BIN=build/sanitize/bin OPT="-O1 -g -fno-omit-frame-pointer" \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined" unit integration

# The benchmarks compare with Optuna (Debian's, for /usr/bin/python3), installed only here.
bench-deps: deps
	@/usr/bin/python3 -c 'import optuna, pandas' 2>/dev/null || { \
	  echo "make bench-deps: installing python3-optuna python3-pandas"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    python3-optuna python3-pandas >/dev/null; }

bench: bench-deps
	$(MAKE) all $(BENCH_BINS)
	@BIN=$(abspath $(BIN)) BENCH=$(abspath $(BUILD)/bench) tests/bench/run-all.sh

# libFuzzer targets (tests/fuzz/fuzz_*.c): the library rebuilt by clang with ASan and UBSan
# in build/fuzz; tests/fuzz/run.sh replays each target's regressions, then fuzzes it for
# FUZZ_SECONDS from its seed corpus. (gcc does not check format strings passed through a
# va_list; clang does, hence -Wno-format-nonliteral there.)
fuzz-deps: deps
	@if command -v clang >/dev/null && \
	  test -f "$$(clang -print-resource-dir)/lib/linux/libclang_rt.fuzzer-x86_64.a"; then :; else \
	  echo "make fuzz-deps: installing clang and libclang-rt-14-dev"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends clang \
	    libclang-rt-14-dev >/dev/null; \
	fi

fuzz: fuzz-deps
	$(MAKE) CC=clang BUILD=build/fuzz BIN=build/fuzz/bin OPT="-O1 -g -fno-omit-frame-pointer" \
	  EXTRA_CFLAGS="-Wno-format-nonliteral -fsanitize=fuzzer-no-link,address,undefined \
	  -fno-sanitize-recover=undefined" EXTRA_LDFLAGS="-fsanitize=address,undefined" fuzz-targets
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh build/fuzz

fuzz-targets: $(FUZZ_BINS)

# The integration tests once with every process under valgrind memcheck: no definite leak,
# no invalid access (a subset that tolerates the slowdown: tests/valgrind/run.sh).
valgrind: deps
	@command -v valgrind >/dev/null || { export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends valgrind >/dev/null; }
	$(MAKE) all
	@REAL_BIN=$(abspath $(BIN)) tests/valgrind/run.sh

demo: deps
	$(MAKE) all
	@contrib/demo.sh

# The binaries, man pages, bash and zsh completions, the systemd units (their binary path
# rewritten to $(PREFIX)/bin), the sysusers.d entry of their user, and the Python helper for
# trainers with an example (DATADIR/python) and the agent's example settings (DATADIR).
# Distributions with units elsewhere set UNITDIR (/lib/systemd/system) and SYSUSERSDIR.
MANDIR      ?= $(PREFIX)/share/man
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
DATADIR     ?= $(PREFIX)/share/spotsweep
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  ?= $(PREFIX)/share/zsh/site-functions
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	  $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(UNITDIR) \
	  $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(DATADIR)/python
	install -m 0755 $(BIN)/spotsweep $(BIN)/spotsweep-agent $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 man/spotsweep.1 man/spotsweep-agent.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/spotsweep-spec.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 contrib/completion/spotsweep.bash $(DESTDIR)$(BASHCOMPDIR)/spotsweep
	ln -sf spotsweep $(DESTDIR)$(BASHCOMPDIR)/spotsweep-agent
	install -m 0644 contrib/completion/_spotsweep $(DESTDIR)$(ZSHCOMPDIR)/_spotsweep
	for u in spotsweep.service spotsweep-agent@.service; do \
	  sed 's|/usr/local/bin/|$(PREFIX)/bin/|g' contrib/systemd/$$u >$(DESTDIR)$(UNITDIR)/$$u && \
	  chmod 0644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; done
	install -m 0644 contrib/systemd/spotsweep.sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/spotsweep.conf
	install -m 0644 contrib/systemd/agent.env.example $(DESTDIR)$(DATADIR)/
	install -m 0644 contrib/python/spotsweep_trainer.py $(DESTDIR)$(DATADIR)/python/
	install -m 0755 contrib/python/example_train.py $(DESTDIR)$(DATADIR)/python/

clean:
	rm -rf build bin

-include $(wildcard $(BUILD)/*.d $(BUILD)/gen/*.d $(BUILD)/tests/*.d $(BUILD)/bench/*.d)
