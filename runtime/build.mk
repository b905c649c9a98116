# runtime: libplait and plait-run. Build rules.

PLAIT_LIB_SRCS := runtime/plait.c runtime/placement.c runtime/bootstrap.c runtime/rendezvous.c \
	runtime/transport.c runtime/collectives.c runtime/reduce.c runtime/shm.c \
	runtime/shm_allreduce.c plugin/layout.c
PLAIT_LIB_OBJS := $(PLAIT_LIB_SRCS:%.c=$(OBJ)/%.o)
PLAIT_LIBS := $(call pkg_libs,ucx) -lpmi2
EXTRA_CFLAGS_runtime := -I. $(call pkg_cflags,ucx)
EXTRA_CFLAGS_tests += -I.

# The reduction loops are what a large allreduce spends its CPU on: -O3 lets
# GCC vectorize them (at -O2 its cheap cost model leaves them scalar).
$(OBJ)/runtime/reduce.o: CFLAGS += -O3
# Their target_clones resolvers run while the program is relocated, before
# ThreadSanitizer is set up, and must not be instrumented; a rank reduces
# with one thread, so nothing is lost.
ifeq ($(SANITIZE),thread)
$(OBJ)/runtime/reduce.o: CFLAGS += -fno-sanitize=thread
endif

$(LIB)/libplait.a: $(PLAIT_LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(LIB)/libplait.so: $(PLAIT_LIB_OBJS) runtime/libplait.map
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,libplait.so -Wl,--version-script=runtime/libplait.map $(LDFLAGS) \
		-o $@ $(PLAIT_LIB_OBJS) $(PLAIT_LIBS)

$(BIN)/plait-run: $(OBJ)/runtime/plait_run.o $(OBJ)/runtime/placement.o $(OBJ)/runtime/rendezvous.o \
	$(OBJ)/plugin/layout.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^

# Test programs that relaunch themselves under plait-run find it next to them.
RUNTIME_TESTS := runtime_unit_test runtime_collectives_test runtime_failure_test
$(TESTBIN)/runtime_%: $(OBJ)/tests/runtime/%.o $(LIB)/libplait.a | $(BIN)/plait-run
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB)/libplait.a $(PLAIT_LIBS) -lm

# Benchmarks: plait's programs, and Open MPI's allreduce as the anchor.
$(TESTBIN)/runtime_p2p_bench $(TESTBIN)/runtime_allreduce_bench $(TESTBIN)/runtime_allgather_bench \
	$(TESTBIN)/runtime_reduce_scatter_bench: $(TESTBIN)/%: $(OBJ)/tests/bench/%.o $(LIB)/libplait.a | $(BIN)/plait-run
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(LIB)/libplait.a $(PLAIT_LIBS)

$(TESTBIN)/runtime_mpi_allreduce_bench $(TESTBIN)/runtime_mpi_allgather_bench \
	$(TESTBIN)/runtime_mpi_reduce_scatter_bench: $(TESTBIN)/%: tests/bench/%.c tests/bench/mpi_bench.h tests/bench/bench.h
	@mkdir -p $(@D)
	mpicc $(CPPFLAGS) -O2 -std=c11 $(WARN) -o $@ $<

RUNTIME_BENCH_PROGS := $(TESTBIN)/runtime_p2p_bench $(TESTBIN)/runtime_allreduce_bench \
	$(TESTBIN)/runtime_mpi_allreduce_bench $(TESTBIN)/runtime_allgather_bench \
	$(TESTBIN)/runtime_mpi_allgather_bench $(TESTBIN)/runtime_reduce_scatter_bench \
	$(TESTBIN)/runtime_mpi_reduce_scatter_bench
bench: $(RUNTIME_BENCH_PROGS)
BENCHES += tests/bench/runtime_p2p.sh tests/bench/runtime_allreduce.sh tests/bench/runtime_allgather.sh \
	tests/bench/runtime_reduce_scatter.sh

ALL_TARGETS += $(LIB)/libplait.a $(LIB)/libplait.so $(BIN)/plait-run

# Device buffers: NCCL (libplait_nccl.a) and the rank's GPU with point-to-point
# on device memory (libplait_cuda.a), libraries of their own, only where CUDA
# is, so host-only programs never link CUDA. Link order: nccl, cuda, plait.
ifneq ($(HAVE_CUDA),)
CUDA_CFLAGS := -I$(CUDA_HOME)/include
CUDA_LIBS := -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lnccl -lcudart
PLAIT_CUDA_LIBS := $(LIB)/libplait_nccl.a $(LIB)/libplait_cuda.a
$(OBJ)/runtime/nccl.o $(OBJ)/runtime/cuda.o: EXTRA_CFLAGS_runtime += $(CUDA_CFLAGS)
$(OBJ)/tests/runtime/nccl_test.o $(OBJ)/tests/runtime/cuda_p2p_test.o: EXTRA_CFLAGS_tests += $(CUDA_CFLAGS)

$(LIB)/libplait_nccl.a: $(OBJ)/runtime/nccl.o
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(LIB)/libplait_cuda.a: $(OBJ)/runtime/cuda.o
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(TESTBIN)/runtime_nccl_test $(TESTBIN)/runtime_cuda_p2p_test: $(TESTBIN)/runtime_%: $(OBJ)/tests/runtime/%.o $(PLAIT_CUDA_LIBS) $(LIB)/libplait.a | $(BIN)/plait-run
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(PLAIT_CUDA_LIBS) $(LIB)/libplait.a $(PLAIT_LIBS) $(CUDA_LIBS)

ALL_TARGETS += $(PLAIT_CUDA_LIBS)
GPU_TESTS += $(TESTBIN)/runtime_nccl_test $(TESTBIN)/runtime_cuda_p2p_test
endif
UNIT_TESTS += $(RUNTIME_TESTS:%=$(TESTBIN)/%)
SCRIPT_TESTS += tests/runtime/exports_test.sh tests/runtime/plait_run_test.sh tests/runtime/srun_test.sh

INSTALL_RULES += install-runtime
.PHONY: install-runtime
install-runtime: $(LIB)/libplait.a $(LIB)/libplait.so $(BIN)/plait-run
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/plait/runtime
	install -m 755 $(BIN)/plait-run $(DESTDIR)$(PREFIX)/bin/plait-run
	install -m 644 $(LIB)/libplait.a $(DESTDIR)$(PREFIX)/lib/libplait.a
	install -m 755 $(LIB)/libplait.so $(DESTDIR)$(PREFIX)/lib/libplait.so
	install -m 644 runtime/plait.h runtime/plait_nccl.h runtime/plait_cuda.h \
		$(DESTDIR)$(PREFIX)/include/plait/runtime/
	$(if $(HAVE_CUDA),install -m 644 $(PLAIT_CUDA_LIBS) $(DESTDIR)$(PREFIX)/lib/)

include runtime/train/build.mk
