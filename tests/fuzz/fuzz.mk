# Fuzzing (tests/fuzz/): every parser of outside input as a libFuzzer target, and the same
# targets linked with a plain `main` (driver.c) to replay corpora with any compiler.
# Included by the top-level Makefile.
#
#   make fuzz [FUZZ_SECONDS=10] [FUZZ_TARGETS="sse json5"]
#       clang + libFuzzer + ASan + UBSan; the library is built by a recursive make in
#       $(FUZZ_BUILD) with CC=clang SAN=1; each target runs FUZZ_SECONDS on a working corpus in
#       $(FUZZ_BUILD)/corpus/<target>, seeded from tests/fuzz/corpus/<target>. A crash stops the
#       run and leaves crash-* in $(FUZZ_BUILD)/crashes/<target>: copy it into
#       tests/fuzz/regress/<target>/ once fixed.
#   make fuzz-replay
#       gcc (or $(CC)) + ASan + UBSan in build-asan: replays the seed corpora and the regression
#       inputs through driver.c. Fast; what CI runs.

FUZZ_TARGETS ?= http_head http_chunked json5 config litellm sse tokens summary jsonscan \
                stream_anthropic stream_openai stream_gemini \
                response_anthropic response_openai response_gemini \
                build_anthropic build_openai build_gemini gemini_schema jsonparse
FUZZ_SECONDS ?= 10
FUZZ_BUILD   ?= build-fuzz
FUZZ_CC      ?= clang
FUZZ_FLAGS   ?= -max_len=65536 -rss_limit_mb=2048 -timeout=10
FUZZ_DIR     := tests/fuzz
FUZZ_HDRS    := $(wildcard $(FUZZ_DIR)/*.h)

# Target name -> source and per-format define: stream_openai is fuzz_stream.c built with
# -DFUZZ_FORMAT_openai.
fuzz_src  = $(FUZZ_DIR)/fuzz_$(if $(filter stream_% response_% build_%,$(1)),$(firstword $(subst _, ,$(1))),$(1)).c
fuzz_defs = $(if $(filter stream_% response_% build_%,$(1)),-DFUZZ_FORMAT_$(lastword $(subst _, ,$(1))))

.PHONY: fuzz fuzz-bins fuzz-run fuzz-replay fuzz-replay-bins fuzz-replay-run

# ---- libFuzzer (clang)
fuzz:
	$(Q)$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) SAN=1 \
	  OPT="-O1 -fsanitize=fuzzer-no-link -Wno-unknown-warning-option" \
	  FUZZ_TARGETS="$(FUZZ_TARGETS)" FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz-run

fuzz-bins: $(patsubst %,$(BUILD)/fuzz/%,$(FUZZ_TARGETS))

# One explicit rule per target (no pattern rule: the source name depends on the target's).
define fuzz_rules
$(BUILD)/fuzz/$(1): $(call fuzz_src,$(1)) $(FUZZ_HDRS) $(BUILD)/libccrelay.a
	@mkdir -p $$(dir $$@)
	$$(call say,FUZZ,$$@)$$(CC) $$(CFLAGS) -I$(FUZZ_DIR) $(call fuzz_defs,$(1)) \
	  -fsanitize=fuzzer $$(LDFLAGS) -o $$@ $$< $(BUILD)/libccrelay.a $$(LDLIBS)

$(BUILD)/fuzz-replay/$(1): $(call fuzz_src,$(1)) $(FUZZ_DIR)/driver.c $(FUZZ_HDRS) \
                           $(BUILD)/libccrelay.a
	@mkdir -p $$(dir $$@)
	$$(call say,CC,$$@)$$(CC) $$(CFLAGS) -I$(FUZZ_DIR) $(call fuzz_defs,$(1)) $$(LDFLAGS) \
	  -o $$@ $$< $(FUZZ_DIR)/driver.c $(BUILD)/libccrelay.a $$(LDLIBS)
endef
$(foreach t,$(FUZZ_TARGETS),$(eval $(call fuzz_rules,$(t))))

# One target at a time (the machine is shared); stops at the first crash.
fuzz-run: fuzz-bins
	$(Q)for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(BUILD)/corpus/$$t $(BUILD)/crashes/$$t; \
	  seeds=$(FUZZ_DIR)/corpus/$$t; [ -d $$seeds ] || seeds=; \
	  regress=$(FUZZ_DIR)/regress/$$t; [ -d $$regress ] || regress=; \
	  echo "== fuzz $$t for $(FUZZ_SECONDS)s"; \
	  $(BUILD)/fuzz/$$t $(FUZZ_FLAGS) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=$(BUILD)/crashes/$$t/ $(BUILD)/corpus/$$t $$seeds $$regress \
	    2>$(BUILD)/fuzz/$$t.log; rc=$$?; \
	  grep -E '^(#[0-9]+ *DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' \
	    $(BUILD)/fuzz/$$t.log | tr '\n' ' '; echo; \
	  if [ $$rc -ne 0 ]; then tail -60 $(BUILD)/fuzz/$$t.log; \
	    echo "fuzz: $$t failed; the input is in $(BUILD)/crashes/$$t/"; exit 1; fi; \
	done

# ---- plain driver (any compiler), ASan + UBSan in build-asan
fuzz-replay:
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan SAN=1 OPT=-O1 \
	  FUZZ_TARGETS="$(FUZZ_TARGETS)" fuzz-replay-run

fuzz-replay-bins: $(patsubst %,$(BUILD)/fuzz-replay/%,$(FUZZ_TARGETS))

fuzz-replay-run: fuzz-replay-bins
	$(Q)fail=0; for t in $(FUZZ_TARGETS); do \
	  dirs=; for d in $(FUZZ_DIR)/corpus/$$t $(FUZZ_DIR)/regress/$$t; do \
	    [ -d $$d ] && dirs="$$dirs $$d"; done; \
	  [ -n "$$dirs" ] || { echo "fuzz-replay: no inputs for $$t"; fail=1; continue; }; \
	  $(BUILD)/fuzz-replay/$$t $$dirs || fail=1; \
	done; exit $$fail
