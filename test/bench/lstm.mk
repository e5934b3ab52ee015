# make -C test/bench -f lstm.mk bench-lstm: the LSTM benchmark against
# PyTorch (bench_lstm.py), writing its section of RESULTS.md.  Needs root,
# ecml installed (ECML_PGROOT selects a private PostgreSQL tree),
# python3-torch and ../shared/data.
PYTHON ?= /usr/bin/python3
BENCH_LSTM_ARGS ?=

.PHONY: bench-lstm bench-sessions
bench-lstm:
	nice -n 10 $(PYTHON) $(dir $(lastword $(MAKEFILE_LIST)))bench_lstm.py $(BENCH_LSTM_ARGS)

# against session-recommender baselines (bench_sessions.py), one data set
# per run so that each stays within about 3 minutes (ac, every next click of
# synthetic shop sessions with two extra ecml option rows: about 5 minutes)
BENCH_SESSIONS_ARGS ?= --torch-epochs 5
bench-sessions:
	nice -n 10 $(PYTHON) $(dir $(lastword $(MAKEFILE_LIST)))bench_sessions.py --only ml $(BENCH_SESSIONS_ARGS)
	nice -n 10 $(PYTHON) $(dir $(lastword $(MAKEFILE_LIST)))bench_sessions.py --only tb --torch-epochs 3
	nice -n 10 $(PYTHON) $(dir $(lastword $(MAKEFILE_LIST)))bench_sessions.py --only ta
	nice -n 10 $(PYTHON) $(dir $(lastword $(MAKEFILE_LIST)))bench_sessions.py --only tbs --torch-epochs 3
	nice -n 10 $(PYTHON) $(dir $(lastword $(MAKEFILE_LIST)))bench_sessions.py --only ac --torch-epochs 0 --ecml-extra '[{"repeat": "off"}, {"dropout": 0.1}]'

# ecml.train('lstm') (model averaging) against ecml.lstm_train with the same
# options, serial and with 2 parallel workers (bench_lstm_passes.py); one
# data set per run, each within about 3 minutes
BENCH_LSTM_PASSES_ARGS ?= --options '{"epochs": 5}'
.PHONY: bench-lstm-passes
bench-lstm-passes:
	nice -n 10 $(PYTHON) $(dir $(lastword $(MAKEFILE_LIST)))bench_lstm_passes.py --only ml $(BENCH_LSTM_PASSES_ARGS)
