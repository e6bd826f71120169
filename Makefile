# sshs — build, test, benchmark.  `make test` installs missing Debian packages first.
CC      ?= cc
# libssh2: the system's when it is >= 1.11.1, else Debian's 1.11.1 source package built static into
# $(DEPS) once (scripts/libssh2-build.sh). LIBSSH2=system forces the system library (CI's 1.10 pass).
DEPS    ?= build/deps
LIBSSH2 ?= $(if $(shell pkg-config --atleast-version=1.11.1 libssh2 2>/dev/null && echo y),system,bundled)
ifeq ($(LIBSSH2),bundled)
PKGS    := lua5.4 libuv
SSH2_A  := $(DEPS)/lib/libssh2.a
SSH2_CFLAGS := -I$(DEPS)/include
SSH2_LIBS   := $(SSH2_A) -lssl
else
PKGS    := lua5.4 libssh2 libuv
SSH2_A  :=
SSH2_LIBS   := $(shell pkg-config --libs libssh2 2>/dev/null)
endif
PKG_CFLAGS := $(SSH2_CFLAGS) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(SSH2_LIBS) $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS  ?= -O2 -g
# What the code needs whatever CFLAGS says (make asan passes its own CFLAGS).
REQ_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter $(PKG_CFLAGS)
# The stricter warnings are always on; WERROR=1 (CI: .ci/run) makes every warning an error.
REQ_CFLAGS += -Wshadow -Wmissing-prototypes -Wstrict-prototypes -Wformat=2 -Wimplicit-fallthrough
ifneq ($(filter-out 0,$(WERROR)),)
REQ_CFLAGS += -Werror
endif
# Each object records the headers it included (build/obj/*.d), so editing one rebuilds its users.
DEPFLAGS := -MMD -MP
LDLIBS  += $(PKG_LIBS) -lreadline -lcrypto -lm
# The binary links neither libssh2 nor libcrypto: the connection side is a module it loads on
# the first connect (interp/ssh_api.h, sshmod.c), so start-up does not relocate libcrypto.
# The module reaches back only for the core functions interp/core.exports lists.
# Likewise the REPL's line editor (readline, libtinfo): a module loaded when the REPL starts.
# libuv too, with the event loop's first use (interp/uv_lazy.c): Debian links it with BIND_NOW,
# so loading it resolved its ~300 symbols at every start.
# libc first among the binary's libraries: the loader looks every symbol up in them in this
# order, and most of what liblua imports at start-up is libc's.
EXE_LIBS := -lc $(shell pkg-config --libs lua5.4 2>/dev/null) -lm \
            -Wl,--dynamic-list=interp/core.exports
MOD_LIBS := $(SSH2_LIBS) -lcrypto $(shell pkg-config --libs libuv 2>/dev/null)
REPL_LIBS := -lreadline $(shell pkg-config --libs lua5.4 libuv 2>/dev/null)
# make install PREFIX=/usr/local DESTDIR=: the binary, the stdlib where `require` looks
# (compiled in: a different PREFIX rebuilds), the man page when there is one.
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  := $(PREFIX)/bin
DATADIR := $(PREFIX)/share/sshs
MANDIR  := $(PREFIX)/share/man/man1
# The SSH and REPL modules: found from the binary as ../lib/sshs/ (interp/modload.c), so not compiled in.
MODDIR  := $(PREFIX)/lib/sshs
REQ_CFLAGS += -DSSHS_DATADIR='"$(DATADIR)"'
BUILD   ?= build
# Objects also depend on the compiler flags: a different CFLAGS or WERROR rebuilds everything.
FLAGS_FILE := $(BUILD)/flags
FLAGS_NOW  := $(CC) $(REQ_CFLAGS) $(CFLAGS) $(LDFLAGS)
# Written and read by make itself: through a shell, the quotes of -DSSHS_DATADIR='"…"' were
# lost, the file never matched and every make invocation rebuilt everything.
ifneq ($(FLAGS_NOW),$(file <$(FLAGS_FILE)))
$(shell mkdir -p $(BUILD))
$(file >$(FLAGS_FILE),$(FLAGS_NOW))
endif

# The SSH module: the connection side but ssh_config.c (a parser the bindings use before any
# connection, without libssh2). Built position-independent, with only its table exported.
MOD_SRC := $(filter-out interp/ssh_config.c,$(wildcard interp/ssh_*.c))
SRC     := $(filter-out $(MOD_SRC) interp/repl.c,$(wildcard interp/*.c))
OBJ     := $(patsubst interp/%.c,$(BUILD)/obj/%.o,$(SRC)) $(BUILD)/obj/embedded.o
MOD_OBJ := $(patsubst interp/%.c,$(BUILD)/pic/%.o,$(MOD_SRC))
MODULE  := $(BUILD)/sshs-ssh.so
REPL_MODULE := $(BUILD)/sshs-readline.so
STDLIB  := $(wildcard stdlib/*.lua stdlib/*.sshs)
# Built-in .lua modules go in as bytecode (compiled by the same Lua 5.4 the binary links).
STDLIB_BC := $(patsubst stdlib/%.lua,$(BUILD)/stdlib/%.lua,$(filter %.lua,$(STDLIB))) $(filter %.sshs,$(STDLIB))
UNIT    := $(patsubst tests/unit/%_test.c,$(BUILD)/unit/%_test,$(wildcard tests/unit/*_test.c))

.PHONY: all deps test asan bench soak demo clean install uninstall fuzz fuzz-build valgrind package-check
all: $(BUILD)/sshs $(MODULE) $(REPL_MODULE) $(UNIT) $(BUILD)/fault_listener

$(BUILD)/sshs: $(OBJ) interp/core.exports
	$(CC) $(REQ_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(OBJ) $(EXE_LIBS)

# --exclude-libs: the static libssh2's symbols stay inside the module too.
$(MODULE): $(MOD_OBJ) $(SSH2_A)
	$(CC) $(REQ_CFLAGS) $(CFLAGS) $(LDFLAGS) -shared -Wl,--exclude-libs,ALL -o $@ $(MOD_OBJ) $(MOD_LIBS)
$(REPL_MODULE): $(BUILD)/pic/repl.o
	$(CC) $(REQ_CFLAGS) $(CFLAGS) $(LDFLAGS) -shared -o $@ $< $(REPL_LIBS)

$(BUILD)/obj/%.o: interp/%.c $(FLAGS_FILE) | $(BUILD)/obj $(SSH2_A)
	$(CC) $(REQ_CFLAGS) $(CFLAGS) $(DEPFLAGS) -Iinterp -c -o $@ $<
$(BUILD)/pic/%.o: interp/%.c $(FLAGS_FILE) | $(BUILD)/pic $(SSH2_A)
	$(CC) $(REQ_CFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden $(DEPFLAGS) -Iinterp -c -o $@ $<

# The Lua half of the runtime is compiled into the binary, so build/sshs runs from anywhere.
$(BUILD)/obj/embedded.o: $(BUILD)/embedded.c $(FLAGS_FILE)
	$(CC) $(REQ_CFLAGS) $(CFLAGS) $(DEPFLAGS) -Iinterp -c -o $@ $<
$(BUILD)/embedded.c: scripts/embed.sh $(STDLIB_BC) | $(BUILD)/obj
	sh scripts/embed.sh $(STDLIB_BC) > $@.tmp && mv $@.tmp $@
$(BUILD)/stdlib/%.lua: stdlib/%.lua scripts/luac.lua
	@mkdir -p $(BUILD)/stdlib
	lua5.4 scripts/luac.lua $< $@

# Unit tests: tests/unit/NAME_test.c links against interp/NAME.c's object alone
# (and the libraries the binary links: the scheduler test needs Lua and libuv).
$(BUILD)/unit/%_test.o: tests/unit/%_test.c $(FLAGS_FILE) | $(BUILD)/unit $(SSH2_A)
	$(CC) $(REQ_CFLAGS) $(CFLAGS) $(DEPFLAGS) -Iinterp -Itests/unit -c -o $@ $<
$(BUILD)/unit/%_test: $(BUILD)/unit/%_test.o $(BUILD)/obj/%.o
	$(CC) $(REQ_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)
.SECONDARY: $(UNIT:%=%.o) $(patsubst interp/%.c,$(BUILD)/obj/%.o,$(MOD_SRC))
# The scheduler registers its metatables through l_util.c.
$(BUILD)/unit/scheduler_test: $(BUILD)/obj/l_util.o $(BUILD)/obj/sched_interrupt.o

-include $(OBJ:.o=.d) $(MOD_OBJ:.o=.d) $(BUILD)/pic/repl.d $(UNIT:%=%.d)

# The fault suite's misbehaving servers (tests/cases/fault_*.sh).
$(BUILD)/fault_listener: tests/fault/listener.c | $(BUILD)/obj
	$(CC) $(REQ_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $<

# The preprocessor leans on shctx.c (the shell's quoting context at each #{}).
$(BUILD)/unit/preproc_test: $(BUILD)/unit/preproc_test.o $(BUILD)/obj/preproc.o $(BUILD)/obj/shctx.o
	$(CC) $(REQ_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj $(BUILD)/pic $(BUILD)/unit:
	mkdir -p $@

deps:
	LIBSSH2=$(LIBSSH2) DEPS=$(DEPS) sh scripts/install-deps.sh

$(DEPS)/lib/libssh2.a: scripts/libssh2-build.sh $(wildcard scripts/libssh2-patches/*.patch)
	sh scripts/libssh2-build.sh $(DEPS)

# The build before the suite uses every core unless make was given its own -j.
PAR_JOBS = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(shell nproc 2>/dev/null || echo 2))
test: deps
	$(MAKE) $(PAR_JOBS) all
	SSHS=$(BUILD)/sshs UNITDIR=$(BUILD)/unit bash tests/run.sh

asan: deps
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" LDFLAGS="-fsanitize=address,undefined" all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  SSHS=build-asan/sshs UNITDIR=build-asan/unit SSHS_ASAN=1 bash tests/run.sh

# Long versions: bigger random runs of the interpolation and console round trips (a new seed each time;
# printed), the fault_* tests at full size (a 1,000-host fan-out with dead hosts, 1 GiB floods),
# the transport stress test on every cipher x MAC with 16 MiB streams, twice, and the rekey
# streams at full size (1 GiB, RekeyLimit 64M).
soak: deps all
	seed=$$(date +%s); echo "soak seed $$seed"; \
	SSHS_ROUNDTRIP_N=1000000 SSHS_ROUNDTRIP_REMOTE_N=50000 SSHS_ROUNDTRIP_SEED=$$seed \
	  SSHS=$(BUILD)/sshs UNITDIR=$(BUILD)/unit bash tests/run.sh interp_roundtrip
	seed=$$(date +%s); echo "console soak seed $$seed"; \
	SSHS_CONSOLE_RT_N=100000 SSHS_CONSOLE_RT_REMOTE_N=20000 SSHS_ROUNDTRIP_SEED=$$seed \
	  SSHS=$(BUILD)/sshs UNITDIR=$(BUILD)/unit bash tests/run.sh console_roundtrip
	SSHS_SOAK=1 SSHS_TEST_TIMEOUT=3600 SSHS=$(BUILD)/sshs UNITDIR=$(BUILD)/unit bash tests/run.sh fault_
	SSHS_SOAK=1 SSHS_TEST_TIMEOUT=3600 SSHS=$(BUILD)/sshs UNITDIR=$(BUILD)/unit bash tests/run.sh remote_stress
	SSHS_SOAK=1 SSHS_TEST_TIMEOUT=3600 SSHS=$(BUILD)/sshs UNITDIR=$(BUILD)/unit bash tests/run.sh remote_rekey

# The package's install on this machine (dpkg -i, the installed sshs runs, dpkg --purge; root):
# build_deb.sh with that part, which make test leaves out (it waits on a machine-wide lock).
package-check: deps all
	SSHS_PACKAGE_CHECK=1 SSHS=$(BUILD)/sshs UNITDIR=$(BUILD)/unit bash tests/run.sh build_deb

bench: deps all
	bash scripts/bench.sh

# valgrind over the examples and a remote case (scripts/valgrind.sh).
valgrind: deps all
	SSHS=$(BUILD)/sshs bash scripts/valgrind.sh

# Fuzzing (libFuzzer, clang; ASan + UBSan): tests/fuzz/NAME_fuzz.c, seeds in tests/fuzz/corpus/NAME,
# what the fuzzer finds grows build-fuzz/corpus/NAME. FUZZ_SECS per target (CI runs a short one).
FUZZ_TARGETS := preproc knownhosts sshconfig nodeset
FUZZ_SECS ?= 300
FUZZ_CC ?= clang
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -std=c11 -D_GNU_SOURCE -Iinterp
build-fuzz/preproc_fuzz: tests/fuzz/preproc_fuzz.c interp/preproc.c interp/preproc.h interp/shctx.c interp/shctx.h
	@mkdir -p build-fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ tests/fuzz/preproc_fuzz.c interp/preproc.c interp/shctx.c
build-fuzz/knownhosts_fuzz: tests/fuzz/knownhosts_fuzz.c interp/ssh_knownhosts.c interp/ssh_knownhosts.h
	@mkdir -p build-fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ tests/fuzz/knownhosts_fuzz.c interp/ssh_knownhosts.c -lcrypto
build-fuzz/sshconfig_fuzz: tests/fuzz/sshconfig_fuzz.c interp/ssh_config.c interp/ssh_config.h
	@mkdir -p build-fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ tests/fuzz/sshconfig_fuzz.c interp/ssh_config.c
build-fuzz/nodeset_fuzz: tests/fuzz/nodeset_fuzz.c stdlib/nodeset.lua
	@mkdir -p build-fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) $(shell pkg-config --cflags lua5.4) -DNODESET_LUA='"$(CURDIR)/stdlib/nodeset.lua"' -o $@ tests/fuzz/nodeset_fuzz.c $(shell pkg-config --libs lua5.4)
fuzz-build: deps $(FUZZ_TARGETS:%=build-fuzz/%_fuzz)
fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p build-fuzz/corpus/$$t; rm -f build-fuzz/$$t-*; \
	  echo "fuzz: $$t for $(FUZZ_SECS)s"; \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1 \
	    build-fuzz/$${t}_fuzz -max_total_time=$(FUZZ_SECS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix=build-fuzz/$$t- build-fuzz/corpus/$$t tests/fuzz/corpus/$$t 2>&1 | \
	    grep -E '^(INFO: seed|#[0-9]+ +DONE|==[0-9]+==|SUMMARY|stat::number_of_executed_units|Done )' || true; \
	  if ls build-fuzz/$$t-* >/dev/null 2>&1; then \
	    echo "not ok - fuzz $$t: a crash, leak or timeout (inputs in build-fuzz/$$t-*)"; exit 1; fi; \
	  echo "ok - fuzz $$t: $(FUZZ_SECS)s without a finding"; \
	done

demo: all
	$(BUILD)/sshs examples/demo.sshs

# Public stdlib modules only: _prelude and _fleet are the runtime's own (built into the binary).
STDLIB_PUBLIC := $(filter-out stdlib/_%,$(STDLIB))
MANPAGE := $(wildcard sshs.1 doc/sshs.1 man/sshs.1)
# Completions and editor files where bash-completion, zsh and Vim look: zsh's vendor folder for
# a distribution's /usr, its site-functions otherwise; the TextMate grammar has no common
# place and goes next to the stdlib (DATADIR/editors).
BASHCOMPDIR := $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  := $(PREFIX)/share/zsh/$(if $(filter /usr,$(PREFIX)),vendor-completions,site-functions)
VIMDIR      := $(PREFIX)/share/vim/vimfiles
VIMFILES    := syntax/sshs.vim ftdetect/sshs.vim ftplugin/sshs.vim
install: $(BUILD)/sshs $(MODULE) $(REPL_MODULE)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR) $(DESTDIR)$(MODDIR)
	install -m 755 $(BUILD)/sshs $(DESTDIR)$(BINDIR)/sshs
	install -m 644 $(MODULE) $(REPL_MODULE) $(DESTDIR)$(MODDIR)/
	$(if $(STDLIB_PUBLIC),install -m 644 $(STDLIB_PUBLIC) $(DESTDIR)$(DATADIR)/)
	$(if $(MANPAGE),install -d $(DESTDIR)$(MANDIR) && install -m 644 $(firstword $(MANPAGE)) $(DESTDIR)$(MANDIR)/sshs.1)
	install -D -m 644 completions/sshs.bash $(DESTDIR)$(BASHCOMPDIR)/sshs
	install -D -m 644 completions/_sshs $(DESTDIR)$(ZSHCOMPDIR)/_sshs
	for f in $(VIMFILES); do install -D -m 644 editors/vim/$$f $(DESTDIR)$(VIMDIR)/$$f || exit 1; done
	install -D -m 644 editors/textmate/sshs.tmLanguage.json $(DESTDIR)$(DATADIR)/editors/sshs.tmLanguage.json

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/sshs $(DESTDIR)$(MANDIR)/sshs.1 $(DESTDIR)$(MODDIR)/$(notdir $(MODULE)) $(DESTDIR)$(MODDIR)/$(notdir $(REPL_MODULE))
	-rmdir $(DESTDIR)$(MODDIR) 2>/dev/null
	rm -f $(addprefix $(DESTDIR)$(DATADIR)/,$(notdir $(STDLIB_PUBLIC)))
	rm -f $(DESTDIR)$(BASHCOMPDIR)/sshs $(DESTDIR)$(ZSHCOMPDIR)/_sshs $(addprefix $(DESTDIR)$(VIMDIR)/,$(VIMFILES))
	rm -f $(DESTDIR)$(DATADIR)/editors/sshs.tmLanguage.json
	-rmdir $(DESTDIR)$(DATADIR)/editors $(DESTDIR)$(DATADIR) 2>/dev/null

# make deb: a binary .deb built by Debian's own tools (debian/, debhelper, dpkg-buildpackage)
# from a copy of the tree's files (git's list, else all but build*) in $(DEBDIR) (dpkg-buildpackage writes its results next to
# the source folder; this keeps them in build/). The bundled libssh2 is linked static from
# $(DEPS) (reused, not rebuilt); dh_shlibdeps declares the shared libraries. Then lintian.
DEBDIR  ?= build/debian-pkg
DEB_VERSION = $(shell dpkg-parsechangelog -S Version 2>/dev/null)
.PHONY: deb
deb: $(if $(filter bundled,$(LIBSSH2)),$(SSH2_A))
	@command -v dpkg-buildpackage >/dev/null && command -v dh >/dev/null && command -v lintian >/dev/null || \
	  { echo "make deb: needs dpkg-dev, debhelper and lintian (make deps installs them)"; exit 1; }
	rm -rf $(DEBDIR) && mkdir -p $(DEBDIR)/sshs-$(DEB_VERSION)
	{ git ls-files -z --cached --others --exclude-standard 2>/dev/null || \
	  find . \( -name 'build*' -o -name .git \) -prune -o -type f -printf '%P\0'; } | \
	  xargs -0 cp --parents -t $(DEBDIR)/sshs-$(DEB_VERSION)
	cd $(DEBDIR)/sshs-$(DEB_VERSION) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	  SSHS_DEB_DEPS=$(abspath $(DEPS)) SSHS_DEB_LIBSSH2=$(LIBSSH2) dpkg-buildpackage -b -us -uc
	lintian --fail-on error $(DEBDIR)/sshs_$(DEB_VERSION)_*.deb
	mkdir -p $(BUILD) && cp $(DEBDIR)/sshs_$(DEB_VERSION)_*.deb $(BUILD)/
	@echo "make deb: $$(ls $(BUILD)/sshs_$(DEB_VERSION)_*.deb)"

clean:
	rm -rf build build-asan build-fuzz
