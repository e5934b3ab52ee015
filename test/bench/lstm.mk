# make -C test/bench -f lstm.mk bench-lstm: the LSTM benchmark against
# PyTorch (bench_lstm.py), writing its section of RESULTS.md.  Needs root,
# ecml installed (ECML_PGROOT selects a private PostgreSQL tree),
# python3-torch and ../shared/data.
PYTHON ?= /usr/bin/python3
BENCH_LSTM_ARGS ?=

.PHONY: bench-lstm
bench-lstm:
	nice -n 10 $(PYTHON) $(dir $(lastword $(MAKEFILE_LIST)))bench_lstm.py $(BENCH_LSTM_ARGS)
