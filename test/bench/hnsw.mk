# make bench-hnsw: the ecml_hnsw index against hnswlib (M=16,
# ef_construction=64, one thread) on the exact-search benchmark's data
# (bench_hnsw.py; writes the "hnsw" section of RESULTS.md).  Needs root,
# python3-hnswlib, and ecml installed in the tree given by ECML_PGROOT
# (default: the system PostgreSQL 15).  Runs under nice: the machine is shared.
#   make -C test/bench -f hnsw.mk bench-hnsw
#   make -C test/bench -f hnsw.mk bench-hnsw HNSW_BENCH_ARGS=--quick
#   make -C test/bench -f hnsw.mk bench-hnsw HNSW_BENCH_ARGS='--growth-n 300000'
PYTHON ?= /usr/bin/python3
HNSW_BENCH_ARGS ?=

.PHONY: bench-hnsw
bench-hnsw:
	nice $(PYTHON) bench_hnsw.py $(HNSW_BENCH_ARGS)

# make bench-hnsw-shapes: ecml_hnsw against pgvector 0.8.1 and hnswlib at
# 100k x 128, 100k x 768 and 50k x 1536, cosine and L2, with recall-q/s
# curves as PNG (bench_hnsw_shapes.py; the "hnsw-shapes" section of
# RESULTS.md).  Needs pgvector in the same tree (../shared/vendor/pgvector/build.sh).
#   make -C test/bench -f hnsw.mk bench-hnsw-shapes HNSW_SHAPES_ARGS=--quick
HNSW_SHAPES_ARGS ?=

.PHONY: bench-hnsw-shapes
bench-hnsw-shapes:
	nice $(PYTHON) bench_hnsw_shapes.py $(HNSW_SHAPES_ARGS)

# make bench-hnsw-reach: rows an index built or filled by inserts can no
# longer reach, by m, for ecml_hnsw and pgvector (hnsw_reach.sh; figures
# into the "hnsw-reach" section of RESULTS.md by hand).  Needs the dev
# server of PGHOST/PGPORT with ecml (and pgvector, if wanted) installed.
#   make -C test/bench -f hnsw.mk bench-hnsw-reach
.PHONY: bench-hnsw-reach
bench-hnsw-reach:
	nice bash hnsw_reach.sh psql

# make bench-hnsw-rerank: what re-ranking from the heap costs a scan of an
# int8 index against the float index, 20,000 x 768, cosine and L2
# (hnsw_rerank.sh; figures into RESULTS.md by hand).  Needs the dev server
# of PGHOST/PGPORT with ecml installed.
#   make -C test/bench -f hnsw.mk bench-hnsw-rerank
.PHONY: bench-hnsw-rerank
bench-hnsw-rerank:
	nice bash hnsw_rerank.sh psql

# make bench-hnsw-build-ab A=old/ecml.so B=new/ecml.so LIBDIR=...: CREATE
# INDEX time and recall with two builds of the shared library, alternated
# (hnsw_build_ab.sh; figures into RESULTS.md by hand).  Needs the dev
# server of PGHOST/PGPORT with ecml installed; LIBDIR is its pkglibdir.
#   make -C test/bench -f hnsw.mk bench-hnsw-build-ab A=... B=... LIBDIR=...
.PHONY: bench-hnsw-build-ab
bench-hnsw-build-ab:
	nice bash hnsw_build_ab.sh $(LIBDIR) $(A) $(B) $(ROUNDS)
