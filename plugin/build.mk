# plugin: plait.so (SPANK), the placement library, plait-topo.
# plait.so links libc, hwloc and libconfig only (a GPU-less login node has
# them); NVML is dlopen()ed, Slurm's symbols come from the host process.

PLUGIN_PKGS := hwloc libconfig
EXTRA_CFLAGS_plugin := $(HARDEN) $(call pkg_cflags,$(PLUGIN_PKGS))
PLUGIN_LIBS := $(call pkg_libs,$(PLUGIN_PKGS))

# The placer and its model: public API in plugin/placement.h.
PLACEMENT_SRC := plugin/cpus.c plugin/layout.c plugin/topology.c plugin/nvml.c \
	plugin/cost.c plugin/placer.c plugin/slurmtopo.c
# Option values, admin config and task environment: no Slurm calls.
REQUEST_SRC := plugin/request.c plugin/config.c plugin/env.c
# The SPANK side: spank.c dispatches to srun.c, sbatch.c, slurmstepd.c.
SPANK_SRC := plugin/spank.c plugin/options.c plugin/submit.c plugin/srun.c \
	plugin/sbatch.c plugin/slurmstepd.c

obj_of = $(patsubst %.c,$(OBJ)/%.o,$(1))
PLACEMENT_LIB := $(LIB)/libplait_placement.a
PLAIT_SO := $(LIB)/plait.so
PLAIT_TOPO := $(BIN)/plait-topo

$(PLACEMENT_LIB): $(call obj_of,$(PLACEMENT_SRC))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(PLAIT_SO): $(call obj_of,$(SPANK_SRC) $(REQUEST_SRC) $(PLACEMENT_SRC)) plugin/plait.map
	@mkdir -p $(@D)
	$(CC) -shared -Wl,--version-script=plugin/plait.map -Wl,--as-needed $(LDFLAGS) -o $@ \
		$(call obj_of,$(SPANK_SRC) $(REQUEST_SRC) $(PLACEMENT_SRC)) $(PLUGIN_LIBS)

$(PLAIT_TOPO): $(OBJ)/plugin/plait-topo.o $(call obj_of,plugin/config.c) $(PLACEMENT_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(PLUGIN_LIBS)

ALL_TARGETS += $(PLAIT_SO) $(PLAIT_TOPO) $(PLACEMENT_LIB)

# Unit tests: tests/plugin/test_*.c with the placement library and the
# Slurm-free option/config/env code.
PLUGIN_TESTS := test_layout test_config test_request test_topology test_placement test_env \
	test_slurmtopo test_nvml
$(TESTBIN)/test_%: $(OBJ)/tests/plugin/test_%.o $(call obj_of,$(REQUEST_SRC)) $(PLACEMENT_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(PLUGIN_LIBS)
UNIT_TESTS += $(addprefix $(TESTBIN)/,$(PLUGIN_TESTS))
# test_nvml loads this stand-in for the NVIDIA driver's NVML.
FAKE_NVML := $(TESTBIN)/fake-nvml/libnvidia-ml.so.1
$(FAKE_NVML): $(OBJ)/tests/plugin/fake_nvml.o
	@mkdir -p $(@D)
	$(CC) -shared $(LDFLAGS) -o $@ $^
$(TESTBIN)/test_nvml: | $(FAKE_NVML)
EXTRA_CFLAGS_tests += $(call pkg_cflags,$(PLUGIN_PKGS))
SCRIPT_TESTS += tests/plugin/so_test.sh tests/plugin/topo_test.sh tests/plugin/spank_test.sh tests/plugin/leaf_test.sh

# Benchmarks: placement quality and speed (docs/performance.md).
$(BIN)/plait-bench-placement: $(OBJ)/tests/bench/placement_bench.o $(PLACEMENT_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(PLUGIN_LIBS)
ALL_TARGETS += $(BIN)/plait-bench-placement
BENCHES += $(BIN)/plait-bench-placement

# Installation.
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
MANDIR ?= $(PREFIX)/share/man
INSTALL_RULES += install-plugin
.PHONY: install-plugin
install-plugin: $(PLAIT_SO) $(PLAIT_TOPO) $(PLACEMENT_LIB)
	install -d $(DESTDIR)$(SLURM_PLUGIN_DIR) $(DESTDIR)$(PREFIX)/bin \
		$(DESTDIR)$(PREFIX)/include/plait/plugin $(DESTDIR)$(PREFIX)/lib \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(PREFIX)/share/plait/topology $(DESTDIR)$(SYSCONFDIR)/plait
	install -m 755 $(PLAIT_SO) $(DESTDIR)$(SLURM_PLUGIN_DIR)/plait.so
	install -m 755 $(PLAIT_TOPO) $(DESTDIR)$(PREFIX)/bin/plait-topo
	install -m 644 plugin/placement.h $(DESTDIR)$(PREFIX)/include/plait/plugin/placement.h
	install -m 644 $(PLACEMENT_LIB) $(DESTDIR)$(PREFIX)/lib/libplait_placement.a
	install -m 644 plugin/man/plait-topo.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 plugin/man/plait.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 644 plugin/man/plait-spank.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 644 etc/topology/*.xml etc/topology/SOURCE.md \
		$(DESTDIR)$(PREFIX)/share/plait/topology/
	install -m 644 etc/plait.conf $(DESTDIR)$(SYSCONFDIR)/plait/plait.conf.example
	[ -e $(DESTDIR)$(SYSCONFDIR)/plait/plait.conf ] || \
		install -m 644 etc/plait.conf $(DESTDIR)$(SYSCONFDIR)/plait/plait.conf
	printf '%s\n' '# plait: include this file from plugstack.conf, e.g.' \
		'#   include $(SYSCONFDIR)/plait/plugstack.conf' \
		'# "required": Slurm ignores the errors of an optional plugin, so a refused job would run.' \
		'required $(SLURM_PLUGIN_DIR)/plait.so config=$(SYSCONFDIR)/plait/plait.conf' \
		>$(DESTDIR)$(SYSCONFDIR)/plait/plugstack.conf
