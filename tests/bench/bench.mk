# Benchmarks (tests/bench/): `make bench` builds the mock upstream, the load client and the CPU
# micro-benchmark into $(BUILD)/bench/ and runs tests/bench/run.sh, which writes
# docs/benchmarks.md. Included by the top-level Makefile.

BENCH_DIR     := $(BUILD)/bench
BENCH_NETLIBS := $(shell pkg-config --libs libevent libcjson 2>/dev/null) -lm
BENCH_TOOLS   := $(BENCH_DIR)/mock_upstream $(BENCH_DIR)/loadgen $(BENCH_DIR)/floor_proxy
# Translators that cpu_bench may use: each is linked only when its object is in the library and
# links on its own (a module not yet merged on main is skipped, and cpu_bench says so).
BENCH_PROVIDERS := provider_anthropic provider_openai provider_gemini provider_ops_for summary_build summary_scan json_parse \
                   policy_new config_load_text

.PHONY: bench bench-tools
# run.sh builds ccrelay and cpu_bench itself, tolerating failure: while the proxy or the library
# does not build yet, it says so and the mock-only rows still come out.
bench: bench-tools
	$(Q)BUILD=$(BUILD) SHARED=$(SHARED) MAKE="$(MAKE)" bash tests/bench/run.sh

bench-tools: $(BENCH_TOOLS)

$(BENCH_DIR)/%: tests/bench/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BENCH_NETLIBS)

# Probe which of BENCH_PROVIDERS the library can supply, then link with exactly those forced in
# (-u); the rest stay weak NULL references that cpu_bench reports as "not linked".
$(BENCH_DIR)/cpu_bench: tests/bench/cpu_bench.c $(BUILD)/libccrelay.a
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(CFLAGS) -c -o $@.o $<
	$(Q)use=""; for s in $(BENCH_PROVIDERS); do \
	  if $(CC) $(LDFLAGS) -o $@.probe $@.o -Wl,-u,$$s $(BUILD)/libccrelay.a $(LDLIBS) \
	       >/dev/null 2>&1; then use="$$use -Wl,-u,$$s"; fi; done; rm -f $@.probe; \
	  $(CC) $(LDFLAGS) -o $@ $@.o $$use $(BUILD)/libccrelay.a $(LDLIBS)
