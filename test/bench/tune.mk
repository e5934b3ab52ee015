# make -C test/bench -f tune.mk bench-tune: ecml.tune against scikit-learn's
# GridSearchCV (logreg, Online Shoppers) and XGBoost's cv (gbdt, claims) on
# ecml.tune's own folds (bench_tune.py; writes the bench:tune section of
# RESULTS.md).  Needs root, python3-sklearn, python3-xgboost, ../shared/data
# and ecml installed (ECML_PGROOT selects a private PostgreSQL tree).
#   make -C test/bench -f tune.mk bench-tune-smoke   two C values, 20 trees,
#                                                    writes out/RESULTS-tune-smoke.md
TUNE_MK_DIR := $(dir $(lastword $(MAKEFILE_LIST)))
PYTHON ?= /usr/bin/python3
BENCH_TUNE_ARGS ?=

.PHONY: bench-tune bench-tune-smoke
bench-tune:
	nice $(PYTHON) $(TUNE_MK_DIR)bench_tune.py $(BENCH_TUNE_ARGS)

bench-tune-smoke:
	mkdir -p $(TUNE_MK_DIR)out
	nice $(PYTHON) $(TUNE_MK_DIR)bench_tune.py --smoke \
		--output $(TUNE_MK_DIR)out/RESULTS-tune-smoke.md $(BENCH_TUNE_ARGS)
