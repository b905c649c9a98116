# kernels: the GPT stage's compute, built into libplait_kernels.a. Programs
# that use it link $(KERNELS_LIB) $(KERNELS_LDLIBS).
KERNELS_SRC := kernels/stage.c kernels/init.c kernels/optimizer.c kernels/cpu/backend.c \
	kernels/cpu/layernorm.c kernels/cpu/linear.c kernels/cpu/attention.c \
	kernels/cpu/elementwise.c kernels/cpu/embedding.c kernels/cpu/crossentropy.c \
	kernels/cpu/adamw.c
KERNELS_LIB := $(LIB)/libplait_kernels.a
KERNELS_LDLIBS := -fopenmp $(call pkg_libs,openblas) -lm -lpthread
KERNELS_CFLAGS := -I. -fopenmp $(call pkg_cflags,openblas)
# Under ThreadSanitizer (SANITIZE=thread, clang), LLVM's Archer tells TSan
# what OpenMP's barriers order; linked in, libomp finds it without a path.
ifeq ($(SANITIZE),thread)
KERNELS_LDLIBS += $(realpath $(shell $(CC) -print-resource-dir)/../../libarcher_static.a) -lstdc++
endif
# No FP traps or errno are looked at: the element-wise loops' comparisons and
# sqrtf then vectorize; results are the same IEEE operations.
EXTRA_CFLAGS_kernels := $(KERNELS_CFLAGS) -O3 -march=x86-64-v3 -fno-trapping-math -fno-math-errno

$(KERNELS_LIB): $(KERNELS_SRC:%.c=$(OBJ)/%.o)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

ALL_TARGETS += $(KERNELS_LIB)

# Unit tests (tests/kernels/<name>.c) and the benchmark (tests/bench/).
KERNELS_TESTS := test_kernel_ops test_model_grad test_tensor_parallel test_pipeline
KERNELS_TEST_PROGS := $(KERNELS_TESTS:%=$(TESTBIN)/%)
$(KERNELS_TEST_PROGS): $(TESTBIN)/%: $(OBJ)/tests/kernels/%.o $(KERNELS_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ $(KERNELS_LDLIBS)
$(KERNELS_TESTS:%=$(OBJ)/tests/kernels/%.o): EXTRA_CFLAGS_tests += $(KERNELS_CFLAGS)
UNIT_TESTS += $(KERNELS_TEST_PROGS)
TSAN_TESTS += $(KERNELS_TEST_PROGS)

# The CUDA kernels' own source (kernels/cuda/*.cuh) run on the host, no GPU
# needed (tests/kernels/emulate_cuda.h): C++20 for std::barrier and
# std::atomic_ref.
KERNELS_EMULATED_TESTS := $(TESTBIN)/test_attention_emulated $(TESTBIN)/test_ops_emulated
$(KERNELS_EMULATED_TESTS): $(TESTBIN)/%: tests/kernels/%.cpp
	@mkdir -p $(@D) $(OBJ)/tests/kernels
	$(CXX) -std=c++20 -O2 -g -I. -Wall -Wextra -Werror -Wno-unknown-pragmas $(SAN_FLAGS) \
		-MMD -MP -MT $@ -MF $(OBJ)/tests/kernels/$*.d $< -o $@ -pthread
UNIT_TESTS += $(KERNELS_EMULATED_TESTS)

KERNELS_BENCH := $(BUILD)/bench/bench_train_step
$(KERNELS_BENCH): $(OBJ)/tests/bench/bench_train_step.o $(KERNELS_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ $(KERNELS_LDLIBS)
$(OBJ)/tests/bench/bench_train_step.o: EXTRA_CFLAGS_tests += $(KERNELS_CFLAGS)
ALL_TARGETS += $(KERNELS_BENCH)
BENCHES += $(KERNELS_BENCH)

# The CUDA backend (when nvcc is found): libplait_kernels_cuda.a. A program
# that creates GPT_DEVICE_CUDA stages links $(KERNELS_CUDA_LDLIBS) as well.
ifeq ($(HAVE_CUDA),1)
KERNELS_CUDA_LIB := $(LIB)/libplait_kernels_cuda.a
KERNELS_CUDA_LDLIBS := -Wl,--undefined=gpt_cuda_backend $(KERNELS_CUDA_LIB) \
	-L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcudart -lstdc++
$(KERNELS_CUDA_LIB): $(OBJ)/kernels/cuda/backend.cu.o
	@mkdir -p $(@D)
	$(AR) rcs $@ $^
ALL_TARGETS += $(KERNELS_CUDA_LIB)

$(TESTBIN)/test_cuda_stage: $(OBJ)/tests/kernels/test_cuda_stage.o $(KERNELS_LIB) $(KERNELS_CUDA_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $(OBJ)/tests/kernels/test_cuda_stage.o $(KERNELS_LIB) $(KERNELS_CUDA_LDLIBS) \
		$(KERNELS_LDLIBS) -o $@
$(OBJ)/tests/kernels/test_cuda_stage.o: EXTRA_CFLAGS_tests += $(KERNELS_CFLAGS) -I$(CUDA_HOME)/include
GPU_TESTS += $(TESTBIN)/test_cuda_stage

# The per-kernel float64 test again, on the CUDA backend.
$(OBJ)/tests/kernels/test_cuda_kernel_ops.o: tests/kernels/test_kernel_ops.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(KERNELS_CFLAGS) -DKERNELS_TEST_CUDA -MMD -MP -c $< -o $@
$(TESTBIN)/test_cuda_kernel_ops: $(OBJ)/tests/kernels/test_cuda_kernel_ops.o $(KERNELS_LIB) \
		$(KERNELS_CUDA_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $< $(KERNELS_LIB) $(KERNELS_CUDA_LDLIBS) $(KERNELS_LDLIBS) -o $@
GPU_TESTS += $(TESTBIN)/test_cuda_kernel_ops
endif
# The CUDA tests under compute-sanitizer; skips without a GPU.
SCRIPT_TESTS += tests/kernels/cuda_memcheck.sh

ifeq ($(HAVE_CUDA),1)
KERNELS_CUDA_BENCH := $(BUILD)/bench/bench_train_step_cuda
$(KERNELS_CUDA_BENCH): $(OBJ)/tests/bench/bench_train_step_cuda.o $(KERNELS_LIB) $(KERNELS_CUDA_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $(OBJ)/tests/bench/bench_train_step_cuda.o $(KERNELS_LIB) \
		$(KERNELS_CUDA_LDLIBS) -lcublas $(KERNELS_LDLIBS) -o $@
$(OBJ)/tests/bench/bench_train_step_cuda.o: EXTRA_CFLAGS_tests += $(KERNELS_CFLAGS) -I$(CUDA_HOME)/include
ALL_TARGETS += $(KERNELS_CUDA_BENCH)
BENCHES += $(KERNELS_CUDA_BENCH)
endif

INSTALL_RULES += install-kernels
.PHONY: install-kernels
install-kernels: $(KERNELS_LIB) $(if $(HAVE_CUDA),$(KERNELS_CUDA_LIB))
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/plait/kernels
	install -m 644 $(KERNELS_LIB) $(DESTDIR)$(PREFIX)/lib/
	$(if $(HAVE_CUDA),install -m 644 $(KERNELS_CUDA_LIB) $(DESTDIR)$(PREFIX)/lib/)
	install -m 644 kernels/kernels.h $(DESTDIR)$(PREFIX)/include/plait/kernels/
