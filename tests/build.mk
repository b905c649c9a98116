# Tests that belong to no single component.
SCRIPT_TESTS += tests/style.sh tests/install_test.sh tests/slurm/cluster_test.sh tests/valgrind_test.sh
include tests/fuzz/build.mk
