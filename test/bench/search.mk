# make bench-search: embedding similarity search against faiss IndexFlatIP and
# a memory-bandwidth bound (bench_search.py; writes the "search" section of
# RESULTS.md).  Needs root, python3-faiss, and ecml installed in the tree
# given by ECML_PGROOT (default: the system PostgreSQL 15).
#   make -C test/bench -f search.mk bench-search
#   make -C test/bench -f search.mk bench-search SEARCH_BENCH_ARGS=--quick
PYTHON ?= /usr/bin/python3
SEARCH_BENCH_ARGS ?=

.PHONY: bench-search
bench-search:
	$(PYTHON) bench_search.py $(SEARCH_BENCH_ARGS)
