# io: libplait_io (datasets, loader, checkpoints), plait-data, plait-ckpt.

IO_CFLAGS := $(call pkg_cflags,hdf5 libisal)
IO_LIBS := $(call pkg_libs,hdf5 libisal) -lz -lpthread
EXTRA_CFLAGS_io := $(IO_CFLAGS)
EXTRA_CFLAGS_tests += $(IO_CFLAGS) -I.

IO_SRCS := io/util.c io/dataset.c io/loader.c io/ckpt_shard.c io/ckpt_manifest.c \
	io/ckpt_write.c io/ckpt_read.c
IO_OBJS := $(IO_SRCS:%.c=$(OBJ)/%.o)
IO_LIB := $(LIB)/libplait_io.a

$(IO_LIB): $(IO_OBJS)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(BIN)/plait-data: $(OBJ)/io/plait_data.o $(IO_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(IO_LIBS)

$(BIN)/plait-ckpt: $(OBJ)/io/plait_ckpt.o $(IO_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(IO_LIBS)

ALL_TARGETS += $(IO_LIB) $(BIN)/plait-data $(BIN)/plait-ckpt

# Unit tests (run under ASan/UBSan) and the small drivers the script tests use.
IO_TESTS := test_io_dataset test_io_loader test_io_ckpt test_io_file
IO_DRIVERS := io_ckpt_driver

$(IO_TESTS:%=$(TESTBIN)/%) $(IO_DRIVERS:%=$(TESTBIN)/%): $(TESTBIN)/%: $(OBJ)/tests/io/%.o $(IO_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(IO_LIBS)

UNIT_TESTS += $(IO_TESTS:%=$(TESTBIN)/%)
# The writer's and reader's threads, and ranks as threads (tests/io/thread_comm.h).
TSAN_TESTS += $(TESTBIN)/test_io_ckpt $(TESTBIN)/test_io_loader $(TESTBIN)/test_io_file
ALL_TARGETS += $(IO_DRIVERS:%=$(TESTBIN)/%)
SCRIPT_TESTS += tests/io/tools_test.sh tests/io/kill_test.sh

$(TESTBIN)/io_bench: $(OBJ)/tests/bench/io_bench.o $(IO_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(IO_LIBS)

ALL_TARGETS += $(TESTBIN)/io_bench
BENCHES += $(TESTBIN)/io_bench

install-io: $(BIN)/plait-data $(BIN)/plait-ckpt $(IO_LIB)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/plait/io
	install -m 755 $(BIN)/plait-data $(BIN)/plait-ckpt $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(IO_LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 io/plait_io.h $(DESTDIR)$(PREFIX)/include/plait/io/

INSTALL_RULES += install-io
.PHONY: install-io
