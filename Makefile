# sshs — build, test, benchmark.  `make test` installs missing Debian packages first.
CC      ?= cc
PKGS    := lua5.4 libssh2 libuv
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS  ?= -O2 -g
# What the code needs whatever CFLAGS says (make asan passes its own CFLAGS).
REQ_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter $(PKG_CFLAGS)
LDLIBS  += $(PKG_LIBS) -lcrypto -lm
BUILD   ?= build

SRC     := $(wildcard interp/*.c)
OBJ     := $(patsubst interp/%.c,$(BUILD)/obj/%.o,$(SRC)) $(BUILD)/obj/embedded.o
STDLIB  := $(wildcard stdlib/*.lua stdlib/*.sshs)
# Built-in .lua modules go in as bytecode (compiled by the same Lua 5.4 the binary links).
STDLIB_BC := $(patsubst stdlib/%.lua,$(BUILD)/stdlib/%.lua,$(filter %.lua,$(STDLIB))) $(filter %.sshs,$(STDLIB))
UNIT    := $(patsubst tests/unit/%_test.c,$(BUILD)/unit/%_test,$(wildcard tests/unit/*_test.c))

.PHONY: all deps test asan bench demo clean
all: $(BUILD)/sshs $(UNIT)

$(BUILD)/sshs: $(OBJ)
	$(CC) $(REQ_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: interp/%.c interp/*.h | $(BUILD)/obj
	$(CC) $(REQ_CFLAGS) $(CFLAGS) -Iinterp -c -o $@ $<

# The Lua half of the runtime is compiled into the binary, so build/sshs runs from anywhere.
$(BUILD)/obj/embedded.o: $(BUILD)/embedded.c
	$(CC) $(REQ_CFLAGS) $(CFLAGS) -Iinterp -c -o $@ $<
$(BUILD)/embedded.c: scripts/embed.sh $(STDLIB_BC) | $(BUILD)/obj
	sh scripts/embed.sh $(STDLIB_BC) > $@.tmp && mv $@.tmp $@
$(BUILD)/stdlib/%.lua: stdlib/%.lua scripts/luac.lua
	@mkdir -p $(BUILD)/stdlib
	lua5.4 scripts/luac.lua $< $@

# Unit tests: tests/unit/NAME_test.c links against interp/NAME.c alone.
$(BUILD)/unit/%_test: tests/unit/%_test.c interp/%.c interp/*.h tests/unit/check.h | $(BUILD)/unit
	$(CC) $(REQ_CFLAGS) $(CFLAGS) $(LDFLAGS) -Iinterp -Itests/unit -o $@ $< interp/$*.c $(LDLIBS)

$(BUILD)/obj $(BUILD)/unit:
	mkdir -p $@

deps:
	sh scripts/install-deps.sh

test: deps
	$(MAKE) all
	SSHS=$(BUILD)/sshs UNITDIR=$(BUILD)/unit bash tests/run.sh

asan: deps
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" LDFLAGS="-fsanitize=address,undefined" all
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	  SSHS=build-asan/sshs UNITDIR=build-asan/unit SSHS_ASAN=1 bash tests/run.sh

bench: deps all
	bash scripts/bench.sh

demo: all
	$(BUILD)/sshs examples/demo.sshs

clean:
	rm -rf build build-asan
