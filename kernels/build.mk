# kernels: the GPT stage's compute, built into libplait-kernels.a. Programs
# that use it link $(KERNELS_LIB) $(KERNELS_LDLIBS).
KERNELS_SRC := kernels/stage.c kernels/init.c kernels/optimizer.c \
	kernels/cpu/layernorm.c kernels/cpu/linear.c kernels/cpu/attention.c \
	kernels/cpu/elementwise.c kernels/cpu/embedding.c kernels/cpu/crossentropy.c \
	kernels/cpu/adamw.c
KERNELS_LIB := $(LIB)/libplait-kernels.a
KERNELS_LDLIBS := -fopenmp $(call pkg_libs,openblas) -lm -lpthread
KERNELS_CFLAGS := -I. -fopenmp $(call pkg_cflags,openblas)
EXTRA_CFLAGS_kernels := $(KERNELS_CFLAGS) -O3 -march=x86-64-v3

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

KERNELS_BENCH := $(BUILD)/bench/bench_train_step
$(KERNELS_BENCH): $(OBJ)/tests/bench/bench_train_step.o $(KERNELS_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ $(KERNELS_LDLIBS)
$(OBJ)/tests/bench/bench_train_step.o: EXTRA_CFLAGS_tests += $(KERNELS_CFLAGS)
ALL_TARGETS += $(KERNELS_BENCH)
BENCHES += $(KERNELS_BENCH)
