# Gradient-boosted fraud scoring against XGBoost: make -f gbdt.mk bench-gbdt
# (from test/bench; included by its Makefile).  Needs root, python3-xgboost
# and python3-sklearn, and ecml installed in $ECML_PGROOT (default: the
# system tree).  Writes the bench:gbdt section of RESULTS.md.
GBDT_BENCH_DIR := $(dir $(lastword $(MAKEFILE_LIST)))
PYTHON ?= /usr/bin/python3
BENCH_GBDT_ARGS ?=

.PHONY: bench-gbdt
bench-gbdt:
	nice -n 10 $(PYTHON) $(GBDT_BENCH_DIR)bench_gbdt.py $(BENCH_GBDT_ARGS)
