# ecml: PGXS build.  `make && make install`, then `make installcheck` against
# a running server (test/run-tests.sh sets up a private one).

EXTENSION = ecml
EXTVERSION = 0.2.0

MODULE_big = ecml
OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# The install script is assembled from one file per concept in sql/ecml/,
# concatenated in name order, so each capability owns its own SQL.
# The update script from 0.1.0 is its ALTERs (sql/update/) followed by the
# files of objects new or redefined since 0.1.0 that a fresh install also
# runs (ranking metrics, mf_pass, gbdt passes, iforest_pass, lstm passes, the text
# classifier from word vectors, lifecycle); sql/ecml--0.1.0.sql is the
# released 0.1.0 install script, kept so that ALTER EXTENSION UPDATE from
# it can be tested (test/extra/update.sh).
DATA_built = $(EXTENSION)--$(EXTVERSION).sql $(EXTENSION)--0.1.0--$(EXTVERSION).sql
DATA = sql/$(EXTENSION)--0.1.0.sql

# pg_regress: every test/sql/<capability>.sql with its
# test/expected/<capability>.out, kept apart from the install scripts in sql/
# as pgvector keeps them; results/ and regression.diffs land in this directory.
REGRESS = $(sort $(basename $(notdir $(wildcard test/sql/*.sql))))
REGRESS_OPTS = --inputdir=test

# BLIS, the pthread build: Debian's alternatives would otherwise pick the
# OpenMP build whenever it is installed, and OpenMP in forked backends is a
# hazard (docs/DESIGN.md section 2).
BLIS_INC = /usr/include/x86_64-linux-gnu/blis-pthread
BLIS_LIB = /usr/lib/x86_64-linux-gnu/blis-pthread
PG_CPPFLAGS = -isystem $(BLIS_INC) -Isrc
# ECML_WERROR=-Werror turns warnings into errors: test/run-tests.sh (and so
# CI) builds with it; left empty for users, whose compiler may be newer.
ECML_WERROR ?=
PG_CFLAGS = -O3 -fno-math-errno -Wno-missing-field-initializers $(ECML_WERROR)
SHLIB_LINK = -L$(BLIS_LIB) -Wl,-rpath,$(BLIS_LIB) -lblis -lm

EXTRA_CLEAN = results regression.diffs regression.out

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS passes --dbname itself; this names the database it uses
CONTRIB_TESTDB = ecml_regression

$(EXTENSION)--$(EXTVERSION).sql: $(sort $(wildcard sql/ecml/*.sql))
	cat $^ > $@

$(EXTENSION)--0.1.0--$(EXTVERSION).sql: sql/update/$(EXTENSION)--0.1.0--$(EXTVERSION).sql sql/update/$(EXTENSION)--0.1.0--$(EXTVERSION)-entries.sql sql/ecml/40_metrics.sql sql/ecml/62_pr_curve.sql sql/ecml/86_mf_pass.sql sql/ecml/87_gbdt_pass.sql sql/ecml/88_iforest_pass.sql sql/ecml/89_lstm_pass.sql sql/ecml/91_text_init.sql sql/ecml/92_text_pass.sql sql/ecml/95_lifecycle.sql
	cat $^ > $@

$(OBJS): $(wildcard src/*.h)

.PHONY: bench
bench:
	$(MAKE) -C test/bench

# Before committing: `make lint` (cppcheck + clang-tidy over src/, with the
# justified suppressions in test/lint/suppressions.txt), `make format-check`
# (the pgindent layout) and `make format` (fixes the layout of the lines
# changed since main).  test/extra/lint.sh runs lint and format-check.
.PHONY: lint format format-check
lint:
	bash test/lint/lint.sh
format-check:
	bash test/lint/format.sh
format:
	bash test/lint/format.sh --fix
