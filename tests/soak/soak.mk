# The soak test (tests/soak/soak.mjs): `make soak` runs ccrelay under a long mixed load (10,000
# requests over the three wire formats, 1,000 mid-stream disconnects, 100 hot reloads) on
# 127.0.0.1, bounded to a few minutes. `make soak SOAK_QUICK=1` is the short variant (under 2
# minutes) that CI runs against the sanitizer build:
#   make BUILD=build-asan SAN=1 OPT=-O1 soak SOAK_QUICK=1
# Included by the top-level Makefile.

SOAK_QUICK ?=

.PHONY: soak
soak: $(BUILD)/ccrelay
	$(Q)CCRELAY_BIN=$(abspath $(BUILD)/ccrelay) CCRELAY_SHARED=$(SHARED) SOAK_QUICK=$(SOAK_QUICK) \
	  node tests/soak/soak.mjs
