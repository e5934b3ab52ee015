#!/usr/bin/env bash
# The README is the SQL reference: this check keeps it from drifting.
# Every user-facing function, aggregate and operator of the installed
# extension must be named in README.md's reference table, every ecml.*
# setting too, and every package test/cluster.sh installs; and every option
# a trainer accepts (the keys of model_info()'s "hyperparameters" for a
# model it trained) must have a row in an options table of that trainer's
# section on its docs/ page.
set -euo pipefail
db=ecml_reference
readme=README.md
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }
trap 'dropdb --if-exists "$db" 2>/dev/null' EXIT
dropdb --if-exists "$db" 2>/dev/null
createdb "$db"
q -c "CREATE EXTENSION ecml"
fail=0
n=0

# functions and aggregates, without the aggregates' support functions
while read -r name; do
    n=$((n + 1))
    if ! grep -qF "ecml.$name(" "$readme"; then
        echo "README.md does not document ecml.$name()"
        fail=1
    fi
done < <(q -c "SELECT DISTINCT p.proname FROM pg_proc p
               JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
               JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'ecml'
               WHERE p.proname !~ '_(transfn|combinefn|serialfn|deserialfn|finalfn)$'
               ORDER BY 1")

# operators
while read -r op; do
    n=$((n + 1))
    if ! grep -qF -- "$op" "$readme"; then
        echo "README.md does not document operator $op"
        fail=1
    fi
done < <(q -c "SELECT DISTINCT o.oprname FROM pg_operator o
               JOIN pg_depend d ON d.classid = 'pg_operator'::regclass AND d.objid = o.oid AND d.deptype = 'e'
               JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'ecml' ORDER BY 1")

# settings
while read -r guc; do
    n=$((n + 1))
    if ! grep -qF "$guc" "$readme"; then
        echo "README.md does not document setting $guc"
        fail=1
    fi
# (the settings exist once the library is loaded in the session)
done < <(q -c "LOAD 'ecml'" -c "SELECT name FROM pg_settings WHERE name LIKE 'ecml.%' ORDER BY 1")

# packages: the README's requirements name every package the scripts install
while read -r pkg; do
    n=$((n + 1))
    if ! grep -qF "\`$pkg\`" "$readme"; then
        echo "README.md does not list package $pkg (ECML_PACKAGES in test/cluster.sh)"
        fail=1
    fi
done < <(bash -c 'source test/cluster.sh; printf "%s\n" "${ECML_PACKAGES[@]}"')

# Options: train a tiny model with each trainer that is installed and read
# the options it recorded.  The trainer's section runs from its first
# mention "ecml.<trainer>(" to the next "## " heading.
declare -A train_sql=(
    [logreg_train]="SELECT ecml.logreg_train(ARRAY[i, i % 7]::real[], i % 2 = 0) FROM generate_series(1, 50) i"
    [mf_train]="SELECT ecml.mf_train(i % 10, i % 13, 1, '{\"factors\": 2, \"iterations\": 1}') FROM generate_series(1, 200) i"
    [fraud_train]="SELECT ecml.fraud_train(ARRAY[i, i % 7]::real[], i % 3 = 0, '{\"n_trees\": 2}') FROM generate_series(1, 200) i"
    [anomaly_train]="SELECT ecml.anomaly_train(ARRAY[i, i % 7]::real[], '{\"n_trees\": 2}') FROM generate_series(1, 200) i"
    [pack_vectors]="SELECT ecml.pack_vectors(i, ARRAY[i, 1]::real[]) FROM generate_series(1, 20) i"
    [lstm_train]="SELECT ecml.lstm_train(ARRAY[i % 3, i % 5, i % 7]::bigint[], '{\"epochs\": 1, \"hidden_size\": 4, \"embedding_dim\": 4}') FROM generate_series(1, 50) i"
    [word2vec_train]="SELECT ecml.word2vec_train(ARRAY['a' || i % 3, 'b' || i % 5], '{\"epochs\": 1, \"dim\": 4, \"min_count\": 1}') FROM generate_series(1, 50) i"
    [word_vectors_load]="SELECT ecml.word_vectors_load('w' || i, ARRAY[i, 1]::real[]) FROM generate_series(1, 20) i"
    [text_classifier_train]="SELECT ecml.text_classifier_train(ARRAY['a' || i % 3, 'b' || i % 5], 'l' || i % 2, '{\"epochs\": 1, \"dim\": 4}') FROM generate_series(1, 50) i"
)
for trainer in "${!train_sql[@]}"; do
    [ "$(q -c "SELECT count(*) FROM pg_proc WHERE proname = '$trainer'
                AND pronamespace = 'ecml'::regnamespace")" -gt 0 ] || continue
    keys=$(q -c "SELECT jsonb_object_keys(ecml.model_info(m)->'hyperparameters') FROM ($(printf '%s' "${train_sql[$trainer]}")) t(m)")
    if [ -z "$keys" ]; then
        echo "ecml.$trainer: model_info() records no hyperparameters"
        fail=1
        continue
    fi
    # its section: from the first mention of "ecml.<trainer>(" on a docs/
    # page to the next "# " or "## " heading, on every page that mentions it
    section=$(for page in docs/*.md; do
        awk -v pat="ecml.$trainer(" 'index($0, pat) { on = 1 } on && /^##? / && seen { exit } on { seen = 1; print }' "$page"
    done)
    for key in $keys; do
        n=$((n + 1))
        # a here-string, not a pipe: grep -q stops at the first match, and under
        # pipefail the writer's SIGPIPE would count as a miss
        if ! grep -qE "^\| *\`$key\` *\|" <<<"$section"; then
            echo "docs/: the section of ecml.$trainer has no options-table row for \`$key\`"
            fail=1
        fi
    done
done
echo "reference checks: $n (functions, operators, settings, options)"
exit $fail
