# ccrelay: the one entry point for build, test, run, bench and containers.
# `make` builds ./ccrelay; `make check` is what CI runs (tests, then the sanitizer build's tests).

CC      ?= cc
PKGS    := lua5.4 libevent libevent_openssl libcjson openssl yaml-0.1
PREFIX  ?= /usr/local
DESTDIR ?=
BUILD   ?= build
SAN     ?=
V       ?= 0

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_CFLAGS := $(shell pkg-config --cflags cmocka 2>/dev/null)
CMOCKA_LIBS   := $(shell pkg-config --libs cmocka 2>/dev/null)

OPT      ?= -O2
CFLAGS   ?= $(OPT) -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wno-format-truncation \
            -Isrc -I$(BUILD)/gen $(PKG_CFLAGS) -DCCRELAY_DATADIR='"$(PREFIX)/share/ccrelay"'
ifeq ($(SAN),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif
LDLIBS   += $(PKG_LIBS) -lm

ifeq ($(V),0)
Q = @
say = @printf '  %-6s %s\n' $(1) $(2);
else
Q =
say =
endif

SRCS      := $(sort $(wildcard src/*.c src/providers/*.c))
LIB_SRCS  := $(filter-out src/main.c,$(SRCS))
LIB_OBJS  := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS)) $(BUILD)/obj/embedded.o
EMBED     := $(sort $(wildcard lua/*.lua lua/lib/*.lua)) config/default.json
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
TOOL_SRCS := $(sort $(wildcard tests/tools/*.c))
TOOL_BINS := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(TOOL_SRCS))

.PHONY: all test unit e2e check asan run install uninstall clean-build bench fmt compile_commands.json
all: ccrelay

ccrelay: $(BUILD)/ccrelay
	$(Q)cp $< $@

$(BUILD)/ccrelay: $(BUILD)/obj/main.o $(BUILD)/libccrelay.a
	$(call say,LINK,$@)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libccrelay.a: $(LIB_OBJS)
	$(call say,AR,$@)rm -f $@ && ar rcs $@ $^

$(BUILD)/obj/%.o: src/%.c $(BUILD)/gen/.dir
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/gen/.dir:
	@mkdir -p $(BUILD)/gen && touch $@

$(BUILD)/gen/embedded.c: scripts/embed.sh $(EMBED) $(BUILD)/gen/.dir
	$(call say,EMBED,$@)sh scripts/embed.sh $@ $(EMBED)

$(BUILD)/obj/embedded.o: $(BUILD)/gen/embedded.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libccrelay.a
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(CFLAGS) $(CMOCKA_CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(BUILD)/libccrelay.a $(CMOCKA_LIBS) $(LDLIBS)

# test_alloc_failures makes ccrelay's own allocations fail in turn: malloc and friends wrapped
$(BUILD)/tests/test_alloc_failures: LDFLAGS += -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc

$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libccrelay.a
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libccrelay.a $(LDLIBS)

-include tests/bench/bench.mk
-include docker/docker.mk
-include tests/fuzz/fuzz.mk
-include tests/soak/soak.mk
-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# Unit tests: every tests/unit/test_*.c is a cmocka program; run from the repo root.
unit: $(UNIT_BINS)
	$(Q)fail=0; for t in $(UNIT_BINS); do \
	  echo "== $$t"; CCRELAY_SHARED=$(SHARED) $$t || fail=1; done; exit $$fail

# End-to-end: the real binary against mock upstreams on 127.0.0.1 (node's test runner).
SHARED ?= $(abspath ../shared)
e2e: $(BUILD)/ccrelay $(TOOL_BINS)
	$(Q)CCRELAY_BIN=$(abspath $(BUILD)/ccrelay) CCRELAY_SHARED=$(SHARED) \
	  node --test --test-concurrency=1 tests/e2e/

test: unit e2e

# Sanitizer build (ASan + UBSan) running the whole suite, in its own build directory.
asan:
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan SAN=1 OPT=-O1 test

check: test asan

run: ccrelay
	./ccrelay serve

install: ccrelay
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/ccrelay/lua/lib \
	  $(DESTDIR)$(PREFIX)/share/ccrelay/lua/examples $(DESTDIR)$(PREFIX)/share/ccrelay/config
	install -m 755 ccrelay $(DESTDIR)$(PREFIX)/bin/ccrelay
	install -m 644 lua/*.lua $(DESTDIR)$(PREFIX)/share/ccrelay/lua/
	for f in lua/lib/*.lua lua/examples/*.lua; do [ -f "$$f" ] && \
	  install -m 644 "$$f" $(DESTDIR)$(PREFIX)/share/ccrelay/$$f; done; true
	install -m 644 config/*.json config/*.yaml $(DESTDIR)$(PREFIX)/share/ccrelay/config/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/ccrelay
	rm -rf $(DESTDIR)$(PREFIX)/share/ccrelay

compile_commands.json:
	bear -- $(MAKE) -B all $(UNIT_BINS)

fmt:
	clang-format -i src/*.[ch] src/providers/*.[ch] tests/unit/*.[ch]

clean-build:
	rm -rf build build-asan ccrelay

# The token estimate against Anthropic's published tokenizer, on every fixture (see README).
tokens-accuracy: ccrelay
	$(Q)[ -d $(BUILD)/tokcheck/node_modules/@anthropic-ai/tokenizer ] || \
	  npm install --silent --no-save --prefix $(BUILD)/tokcheck @anthropic-ai/tokenizer@0.0.4
	$(Q)node scripts/tokens-accuracy.mjs $(SHARED) ./ccrelay $(BUILD)/tokcheck
