# Training beyond memory (issue 14): make -C test/bench bench-scale.  Needs
# root and an installed ecml (ECML_PGROOT=<tree> for a private one); grows a
# table to 20M rows x 50 features (about 5 GB) in a private cluster.
#   make -C test/bench bench-scale-smoke   small sizes, out/RESULTS-scale-smoke.md
#   make -C test/bench bench-scale-kinds   the same for MF (to 20M interactions)
#                                          and GBDT (to 10M rows x 30 features)
#   make -C test/bench bench-scale-kinds-smoke   small sizes
SCALE_MK_DIR := $(dir $(lastword $(MAKEFILE_LIST)))
PYTHON ?= /usr/bin/python3
BENCH_SCALE_ARGS ?=

.PHONY: bench-scale bench-scale-smoke bench-scale-kinds bench-scale-kinds-smoke
bench-scale:
	nice $(PYTHON) $(SCALE_MK_DIR)bench_scale.py $(BENCH_SCALE_ARGS)

bench-scale-smoke:
	mkdir -p $(SCALE_MK_DIR)out
	nice $(PYTHON) $(SCALE_MK_DIR)bench_scale.py --rows 20000,50000 --buffer-rows 20000 --citus-rows 20000 \
		--output $(SCALE_MK_DIR)out/RESULTS-scale-smoke.md $(BENCH_SCALE_ARGS)

bench-scale-kinds:
	nice -n 19 $(PYTHON) $(SCALE_MK_DIR)bench_scale_kinds.py $(BENCH_SCALE_ARGS)

bench-scale-kinds-smoke:
	mkdir -p $(SCALE_MK_DIR)out
	nice $(PYTHON) $(SCALE_MK_DIR)bench_scale_kinds.py --mf-rows 20000,50000 --gbdt-rows 20000,50000 \
		--buffer-rows 20000 --output $(SCALE_MK_DIR)out/RESULTS-scale-kinds-smoke.md $(BENCH_SCALE_ARGS)
