# Tests that belong to no single component.
SCRIPT_TESTS += tests/style.sh tests/slurm/cluster_test.sh
