# Matrix factorization benchmark (issue 3).  From the repository root:
#   make -C test/bench -f mf.mk bench-mf
# Needs root and ecml installed in the PostgreSQL tree of $ECML_PGROOT (or
# the system tree); writes its section of RESULTS.md.
PYTHON ?= /usr/bin/python3
BENCH_MF_ARGS ?=

.PHONY: bench-mf
bench-mf:
	nice $(PYTHON) bench_mf.py $(BENCH_MF_ARGS)
