# plait-train: the trainer (issue 5). Build rules for runtime/train/.

TRAIN_PARTS := $(OBJ)/runtime/train/config.o $(OBJ)/runtime/train/schedule.o \
	$(OBJ)/runtime/train/metrics.o
TRAIN_LIBS := $(call pkg_libs,libconfig) -lm

# The libraries' variables are defined after this file is read: name the
# archives by path here; the recipe expands their flags late.
TRAIN_OBJS := $(addprefix $(OBJ)/runtime/train/,main.o model.o pipeline.o checkpoint.o)
# Where CUDA is: device = "cuda" (cuda.c, and the CUDA libraries before the
# host ones that they call into).
ifneq ($(HAVE_CUDA),)
TRAIN_OBJS += $(OBJ)/runtime/train/cuda.o
TRAIN_CUDA_ARCHIVES := $(LIB)/libplait_nccl.a $(LIB)/libplait_cuda.a $(LIB)/libplait_kernels_cuda.a
TRAIN_CUDA_LDLIBS = $(PLAIT_CUDA_LIBS) $(KERNELS_CUDA_LDLIBS) -lcublas $(CUDA_LIBS)
$(OBJ)/runtime/train/cuda.o: EXTRA_CFLAGS_runtime += -I$(CUDA_HOME)/include
endif
$(BIN)/plait-train: $(TRAIN_OBJS) $(TRAIN_PARTS) $(LIB)/libplait.a $(LIB)/libplait_kernels.a \
		$(LIB)/libplait_io.a $(TRAIN_CUDA_ARCHIVES)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $(TRAIN_OBJS) $(TRAIN_PARTS) $(TRAIN_CUDA_LDLIBS) $(LIB)/libplait.a \
		$(LIB)/libplait_kernels.a $(LIB)/libplait_io.a -o $@ $(PLAIT_LIBS) $(KERNELS_LDLIBS) \
		$(IO_LIBS) $(TRAIN_LIBS)

$(BIN)/plait-plot: $(OBJ)/runtime/train/plot.o $(OBJ)/runtime/train/metrics.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ -lm

$(TESTBIN)/train_config_test: $(OBJ)/tests/train/config_test.o $(TRAIN_PARTS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ $(TRAIN_LIBS)

$(TESTBIN)/train_schedule_test: $(OBJ)/tests/train/schedule_test.o $(TRAIN_PARTS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ $(TRAIN_LIBS)

$(TESTBIN)/train_metrics_test: $(OBJ)/tests/train/metrics_test.o $(TRAIN_PARTS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ $(TRAIN_LIBS)

EXTRA_CFLAGS_runtime += -I. $(call pkg_cflags,libconfig)
ALL_TARGETS += $(BIN)/plait-plot $(BIN)/plait-train
UNIT_TESTS += $(TESTBIN)/train_config_test $(TESTBIN)/train_schedule_test \
	$(TESTBIN)/train_metrics_test
SCRIPT_TESTS += tests/train/plot_test.sh tests/train/errors_test.sh tests/train/layouts_test.sh \
	tests/train/resume_test.sh tests/train/requeue_test.sh \
	tests/train/slurm_layout_test.sh tests/train/slurm_dead_rank_test.sh tests/train/cuda_test.sh \
	tests/train/tsan_test.sh
# tsan_test.sh: plait-train from the ThreadSanitizer build (make SANITIZE=thread).
TSAN_PROGRAMS += $(BIN)/plait-train
BENCHES += tests/bench/train_bench.sh tests/bench/train_cuda_bench.sh

INSTALL_RULES += install-train
.PHONY: install-train
install-train: $(BIN)/plait-train $(BIN)/plait-plot
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/plait/examples
	install -m 755 $(BIN)/plait-train $(BIN)/plait-plot $(DESTDIR)$(PREFIX)/bin/
	install -m 644 etc/tiny.cfg etc/demo.cfg etc/gpt2-124m.cfg examples/local.sbatch \
		examples/dgx-h100.sbatch $(DESTDIR)$(PREFIX)/share/plait/examples/
