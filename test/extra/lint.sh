#!/usr/bin/env bash
# Static checks and layout, as `make lint` and `make format-check` run them
# (test/lint/): cppcheck and clang-tidy over src/ minus the justified
# suppressions, the pgindent rules over every file, and clang-format over
# the lines changed since main.  No cluster needed; about a minute.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
fail=0
make -s lint PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config || fail=1
make -s format-check PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config || fail=1
exit $fail
