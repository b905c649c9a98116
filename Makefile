# plait: top-level build. Each component describes its own targets in
# <component>/build.mk; this file holds what they share.
#
#   make            build everything (CUDA parts when nvcc is found)
#   make check      install missing packages, build, run every test
#   make demo       install, build, start the local cluster, run the example job
#   make bench      run the benchmarks, appending to build/bench/results.jsonl
#   make install    PREFIX=/usr/local DESTDIR=

.DEFAULT_GOAL := all
.SUFFIXES:
.DELETE_ON_ERROR:
SHELL := /bin/bash

# The one list of what plait needs from Debian 12. `make deps` installs the
# missing ones; every other target that needs them depends on it.
DEBIAN_PACKAGES := build-essential pkg-config clang-format \
	slurmctld slurmd slurm-client libslurm-dev libpmi2-0-dev munge \
	libucx-dev ucx-utils libhwloc-dev hwloc libconfig-dev \
	libhdf5-dev hdf5-tools libisal-dev libopenblas-dev openmpi-bin libopenmpi-dev \
	python3-h5py python3-numpy clang libclang-rt-14-dev libomp-dev valgrind

TOP := $(abspath .)
PREFIX ?= /usr/local
DESTDIR ?=
SLURM_PLUGIN_DIR ?= $(shell pkg-config --variable=libdir slurm 2>/dev/null || echo /usr/lib/x86_64-linux-gnu)/slurm-wlm

# SANITIZE=1 builds the same tree with ASan and UBSan into build/asan; the
# unit tests run from there. SANITIZE=thread builds it with ThreadSanitizer
# into build/tsan, with clang (TSAN_CC): LLVM's OpenMP runtime tells TSan
# about its barriers through Archer, GCC's libgomp does not (every parallel
# loop would be reported). The TSAN_TESTS run from there.
TSAN_CC ?= clang
HAVE_TSAN_CC := $(shell command -v $(TSAN_CC) 2>/dev/null)
ifeq ($(SANITIZE),1)
BUILD ?= build/asan
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else ifeq ($(SANITIZE),thread)
BUILD ?= build/tsan
CC := $(TSAN_CC)
# Host threads only: TSan does not see a GPU's, so no CUDA parts.
NVCC :=
# Instrumented, some `omp simd` loops cannot be vectorized, which clang warns of.
SAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer -Wno-pass-failed
else
BUILD ?= build
SAN_FLAGS :=
endif

CC ?= cc
ifeq ($(origin CC),default)
CC := gcc
endif
WARN := -Wall -Wextra -Werror
HARDEN := -fstack-protector-strong -D_FORTIFY_SOURCE=2
CPPFLAGS += -D_GNU_SOURCE
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -fPIC $(WARN) $(SAN_FLAGS)
LDFLAGS += $(SAN_FLAGS) -Wl,-z,relro,-z,now

pkg_cflags = $(shell pkg-config --cflags $(1) 2>/dev/null)
pkg_libs = $(shell pkg-config --libs $(1) 2>/dev/null)

CUDA_HOME ?= /usr/local/cuda
NVCC ?= $(firstword $(shell command -v nvcc 2>/dev/null) $(wildcard $(CUDA_HOME)/bin/nvcc))
CUDA_ARCH ?= -gencode arch=compute_90,code=sm_90
NVCCFLAGS ?= -O3 -std=c++17 $(CUDA_ARCH) -Xcompiler -fPIC,-Wall,-Wextra,-Werror --expt-relaxed-constexpr
HAVE_CUDA := $(if $(NVCC),1,)

BIN := $(BUILD)/bin
LIB := $(BUILD)/lib
OBJ := $(BUILD)/obj
TESTBIN := $(BUILD)/tests

# Filled in by the components:
#   ALL_TARGETS   what `make` builds
#   UNIT_TESTS    test programs (paths under $(TESTBIN)); run under ASan/UBSan
#   SCRIPT_TESTS  test scripts (paths in the tree); run against build/
#   TSAN_TESTS    test programs with threads; also run under ThreadSanitizer
#   TSAN_PROGRAMS what script tests run from the ThreadSanitizer build
#   GPU_TESTS     test programs that need a GPU; skip without one
#   BENCHES       benchmark commands run by `make bench`
#   INSTALL_RULES extra install targets
ALL_TARGETS :=
UNIT_TESTS :=
TSAN_TESTS :=
TSAN_PROGRAMS :=
SCRIPT_TESTS :=
GPU_TESTS :=
BENCHES :=
INSTALL_RULES :=

# Compile rules shared by every component: objects mirror the source tree.
$(OBJ)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(EXTRA_CFLAGS_$(firstword $(subst /, ,$<))) -MMD -MP -c $< -o $@

$(OBJ)/%.cu.o: %.cu
	@mkdir -p $(@D)
	$(NVCC) $(NVCCFLAGS) -I. -MMD -MP -c $< -o $@

include plugin/build.mk
include runtime/build.mk
include kernels/build.mk
include io/build.mk
include tests/build.mk

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

.PHONY: all deps check unit-tests tests tsan-tests demo bench install format format-check clean cluster-down

all: $(ALL_TARGETS)
ifeq ($(HAVE_CUDA),)
	@echo "nvcc not found: CUDA parts skipped (set NVCC= or CUDA_HOME=)"
endif

deps:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi

tests: $(UNIT_TESTS) $(GPU_TESTS)

ifneq ($(HAVE_TSAN_CC),)
tsan-tests: $(TSAN_TESTS) $(TSAN_PROGRAMS)
else
tsan-tests:
	@echo "$(TSAN_CC) not found: ThreadSanitizer build skipped (make deps installs it)"
endif

check: deps
	$(MAKE) all tests fuzzers
	$(MAKE) SANITIZE=1 tests
	$(MAKE) SANITIZE=thread tsan-tests
	tests/run --build build --asan-build build/asan --tsan-build build/tsan \
		--unit "$(notdir $(UNIT_TESTS))" --tsan "$(notdir $(TSAN_TESTS))" \
		--gpu "$(notdir $(GPU_TESTS))" $(SCRIPT_TESTS)

bench: deps all
	@mkdir -p build/bench
	@set -e; for b in $(BENCHES); do echo "== $$b"; $$b; done
	@echo "results: build/bench/results.jsonl"

demo: deps all
	examples/demo.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h' '*.cpp' '*.cu' '*.cuh')

format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h' '*.cpp' '*.cu' '*.cuh')

install: all $(INSTALL_RULES)

cluster-down:
	-tests/slurm/cluster down

# `make print-VAR` shows a variable as the build sees it (e.g. SLURM_PLUGIN_DIR).
print-%:
	@echo '$($*)'

clean:
	rm -rf build
