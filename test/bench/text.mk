# make -C test/bench -f text.mk bench-text: word vectors against gensim,
# pretrained GloVe vectors against numpy and the text classifier against
# the fastText command line (bench_text.py), writing its section of
# RESULTS.md.  Needs root, ecml installed (ECML_PGROOT selects a private
# PostgreSQL tree), python3-gensim, fasttext and ../shared/data.
PYTHON ?= /usr/bin/python3
BENCH_TEXT_ARGS ?=

.PHONY: bench-text text
bench-text:
	nice -n 10 $(PYTHON) $(dir $(lastword $(MAKEFILE_LIST)))bench_text.py $(BENCH_TEXT_ARGS)
text: bench-text
