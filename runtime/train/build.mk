# plait-train: the trainer (issue 5). Build rules for runtime/train/.

TRAIN_PARTS := $(OBJ)/runtime/train/config.o $(OBJ)/runtime/train/schedule.o \
	$(OBJ)/runtime/train/metrics.o
TRAIN_LIBS := $(call pkg_libs,libconfig) -lm

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

EXTRA_CFLAGS_runtime += $(call pkg_cflags,libconfig)
ALL_TARGETS += $(BIN)/plait-plot
UNIT_TESTS += $(TESTBIN)/train_config_test $(TESTBIN)/train_schedule_test \
	$(TESTBIN)/train_metrics_test
SCRIPT_TESTS += tests/train/plot_test.sh
