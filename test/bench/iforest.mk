# The isolation forest benchmark (issue 6): make -f iforest.mk bench-iforest
# here, or through test/bench/Makefile once it includes this file.  Needs
# root and an installed ecml (ECML_PGROOT=<tree> for a private one).
#   make -f iforest.mk bench-iforest-smoke   a quick run on small data that
#                                            writes out/RESULTS-iforest-smoke.md
IFOREST_MK_DIR := $(dir $(lastword $(MAKEFILE_LIST)))
PYTHON ?= /usr/bin/python3
BENCH_IFOREST_ARGS ?=

.PHONY: bench-iforest bench-iforest-smoke
bench-iforest:
	nice $(PYTHON) $(IFOREST_MK_DIR)bench_iforest.py $(BENCH_IFOREST_ARGS)

bench-iforest-smoke:
	mkdir -p $(IFOREST_MK_DIR)out
	nice $(PYTHON) $(IFOREST_MK_DIR)bench_iforest.py --rows 20000 --quality-rows 5000 --runs 1 --no-5m \
		--output $(IFOREST_MK_DIR)out/RESULTS-iforest-smoke.md $(BENCH_IFOREST_ARGS)
