# Fuzzers: libFuzzer targets built with clang into build/fuzz, whatever
# BUILD is (docs/development.md, "Fuzzing"). Without clang they are not
# built and tests/fuzz/fuzz_test.sh skips.

FUZZ_CC ?= clang
HAVE_FUZZ_CC := $(shell command -v $(FUZZ_CC) 2>/dev/null)
FUZZ_BUILD := build/fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=c11 -O1 -g $(WARN) $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_SECONDS ?= 300

FUZZ_TARGETS := fuzz_options fuzz_plait_conf fuzz_slurm_topology fuzz_hwloc fuzz_env \
	fuzz_train_config fuzz_manifest
fuzz_objs = $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(1))

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) $(EXTRA_CFLAGS_$(firstword $(subst /, ,$<))) \
		-MMD -MP -c $< -o $@

FUZZ_PLUGIN_OBJS := $(call fuzz_objs,$(REQUEST_SRC) $(PLACEMENT_SRC))
$(FUZZ_BUILD)/bin/fuzz_options $(FUZZ_BUILD)/bin/fuzz_plait_conf \
$(FUZZ_BUILD)/bin/fuzz_slurm_topology $(FUZZ_BUILD)/bin/fuzz_hwloc: FUZZ_LIBS = $(PLUGIN_LIBS)
$(FUZZ_BUILD)/bin/fuzz_options $(FUZZ_BUILD)/bin/fuzz_plait_conf \
$(FUZZ_BUILD)/bin/fuzz_slurm_topology $(FUZZ_BUILD)/bin/fuzz_hwloc: $(FUZZ_PLUGIN_OBJS)

FUZZ_TRAIN_CONFIG_OBJS := $(call fuzz_objs,runtime/train/config.c)
$(FUZZ_BUILD)/bin/fuzz_train_config: $(FUZZ_TRAIN_CONFIG_OBJS)
$(FUZZ_BUILD)/bin/fuzz_env: $(call fuzz_objs,runtime/placement.c plugin/layout.c) $(FUZZ_TRAIN_CONFIG_OBJS)
$(FUZZ_BUILD)/bin/fuzz_train_config $(FUZZ_BUILD)/bin/fuzz_env: FUZZ_LIBS = $(TRAIN_LIBS)

$(FUZZ_BUILD)/bin/fuzz_manifest: $(call fuzz_objs,$(IO_SRCS))
$(FUZZ_BUILD)/bin/fuzz_manifest: FUZZ_LIBS = $(IO_LIBS)

$(FUZZ_BUILD)/bin/%: $(FUZZ_BUILD)/obj/tests/fuzz/%.o
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(FUZZ_LIBS)

.SECONDARY: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/obj/tests/fuzz/%.o)
FUZZERS := $(addprefix $(FUZZ_BUILD)/bin/,$(FUZZ_TARGETS))
SCRIPT_TESTS += tests/fuzz/fuzz_test.sh

.PHONY: fuzzers fuzz
ifneq ($(HAVE_FUZZ_CC),)
fuzzers: $(FUZZERS)
else
fuzzers:
	@echo "$(FUZZ_CC) not found: fuzzers not built (make deps installs it)"
endif

# Long runs: each fuzzer for FUZZ_SECONDS, its corpus kept in build/fuzz/corpus.
fuzz: deps fuzzers
	tests/fuzz/fuzz_test.sh --seconds $(FUZZ_SECONDS)

-include $(shell find $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)
