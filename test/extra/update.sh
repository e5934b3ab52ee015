#!/usr/bin/env bash
# ALTER EXTENSION ecml UPDATE from 0.1.0 (issue 21): a 0.1.0 registry with
# models of two roles becomes version 1 of each name, live, with its
# owner, bytes and metadata unchanged; ecml.model() reads the same bytes;
# row security still shows a role only its team's models; new versions,
# promotion and rollback work on the updated registry.  And the updated
# extension is the fresh one: the same member objects with the same
# definitions (functions, tables and their columns, indexes, policies,
# comments), so an object added to sql/ecml/ without an update step fails
# here.
set -euo pipefail
old=ecml_update_old
new=ecml_update_new
trap 'dropdb --if-exists "$old" 2>/dev/null; dropdb --if-exists "$new" 2>/dev/null;
      psql -X -q -d postgres -c "DROP ROLE IF EXISTS ecml_upd_team" 2>/dev/null' EXIT
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail=0

dropdb --if-exists "$old" 2>/dev/null; dropdb --if-exists "$new" 2>/dev/null
psql -X -q -d postgres -c "DO \$\$BEGIN CREATE ROLE ecml_upd_team; EXCEPTION WHEN duplicate_object THEN NULL; END\$\$"
createdb "$old"
createdb "$new"
q -o /dev/null -d "$old" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION ecml VERSION '0.1.0';
GRANT USAGE ON SCHEMA ecml TO ecml_upd_team;
GRANT SELECT, INSERT, UPDATE, DELETE ON ecml.models TO ecml_upd_team;
CREATE TABLE rows AS
SELECT i, ARRAY[sin(i * 0.3), cos(i * 0.7), (i % 13)::real]::real[] AS f,
       sin(i * 0.3) - cos(i * 0.7) > 0 AS y
FROM generate_series(1, 1000) i;
GRANT SELECT ON rows TO ecml_upd_team;
SELECT ecml.save_model('purchase', ecml.logreg_train(f, y)) FROM rows;
SELECT ecml.save_model('fraud', ecml.fraud_train(f, y, '{"n_trees": 5}')) FROM rows;
UPDATE ecml.models SET owner = 'ecml_upd_team' WHERE name = 'fraud';
SQL
meta="SELECT name, kind, md5(model), trained_at, rows, metrics, owner, md5(ecml.model(name)) FROM ecml.models ORDER BY name"
q -d "$old" -c "$meta" >/tmp/ecml_update_before.$$
q -d "$old" -c "ALTER EXTENSION ecml UPDATE"
q -d "$old" -c "$meta" >/tmp/ecml_update_after.$$
version=$(q -d "$old" -c "SELECT extversion FROM pg_extension WHERE extname = 'ecml'")
echo "updated to $version"
if ! diff /tmp/ecml_update_before.$$ /tmp/ecml_update_after.$$; then
    echo "the registry changed in the update"
    fail=1
fi
rm -f /tmp/ecml_update_before.$$ /tmp/ecml_update_after.$$

check() {
    local what=$1 want=$2 got
    shift 2
    got=$(q "$@" 2>&1) || true
    if [ "$got" = "$want" ]; then
        echo "ok: $what"
    else
        echo "not ok: $what: got '$got', want '$want'"
        fail=1
    fi
}
check "old models are version 1, live, saved when trained, by their owner" "fraud|1|t|t|ecml_upd_team
purchase|1|t|t|postgres" -d "$old" -c "SELECT name, version, live, saved_at = trained_at, saved_by FROM ecml.models ORDER BY name"
check "a new version after the update is version 2 and live" "2
2" -d "$old" \
    -c "SELECT ecml.save_version('purchase', ecml.logreg_train(f, y, '{\"l2\": 1}')) FROM rows" \
    -c "SELECT version FROM ecml.models WHERE name = 'purchase' AND live"
check "rollback returns to the 0.1.0 model" "1
t" -d "$old" \
    -c "SELECT ecml.rollback('purchase')" \
    -c "SELECT md5(ecml.model('purchase')) = md5(ecml.model('purchase', 1))"
check "row security: the team sees its model only, saves versions of it and reads their history (the grant on ecml.models reaches ecml.model_history)" "fraud

2|fraud 2 promoted ecml_upd_team" -d "$old" \
    -c "SET ROLE ecml_upd_team" -c "SELECT string_agg(DISTINCT name, ',') FROM ecml.models" \
    -c "SELECT ecml.save_model('fraud', ecml.model('fraud'))" \
    -c "SELECT max(version), (SELECT string_agg(name || ' ' || version || ' ' || event || ' ' || by, ',') FROM ecml.model_history) FROM ecml.models"
check "another team's name is refused after the update" \
    "ERROR:  new row violates row-level security policy (USING expression) for table \"models\"" -d "$old" \
    -c "SET ROLE ecml_upd_team" -c "\\set VERBOSITY terse" \
    -c "SELECT ecml.save_model('purchase', ecml.model('fraud'))"

# the updated extension is the fresh one
q -o /dev/null -d "$new" -c "SET client_min_messages = warning" -c "CREATE EXTENSION ecml"
shape=$(cat <<'SQL'
SELECT 'function ' || p.oid::regprocedure || ' ' || pg_get_functiondef(p.oid) || ' ' || coalesce(obj_description(p.oid, 'pg_proc'), '<no comment>')
FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'ecml') AND p.prokind <> 'a'
UNION ALL
SELECT 'aggregate ' || p.oid::regprocedure
FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'ecml') AND p.prokind = 'a'
UNION ALL
SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull
       || ' ' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '') || ' ' || coalesce(col_description(c.oid, a.attnum), '')
FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
WHERE c.relnamespace = 'ecml'::regnamespace AND c.relkind = 'r'
UNION ALL
SELECT 'table ' || c.relname || ' ' || c.relrowsecurity || ' ' || coalesce(obj_description(c.oid, 'pg_class'), '')
FROM pg_class c WHERE c.relnamespace = 'ecml'::regnamespace AND c.relkind = 'r'
UNION ALL
SELECT 'index ' || regexp_replace(pg_get_indexdef(i.indexrelid), 'ecml\.', '')
FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'ecml'::regnamespace
UNION ALL
SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = 'ecml'::regnamespace
UNION ALL
SELECT 'policy ' || polname || ' ' || pg_get_expr(polqual, polrelid) || ' ' || pg_get_expr(polwithcheck, polrelid) FROM pg_policy
UNION ALL
SELECT 'config dump ' || unnest(extconfig)::regclass FROM pg_extension WHERE extname = 'ecml'
UNION ALL
SELECT 'operator ' || o.oid::regoperator FROM pg_operator o WHERE o.oprnamespace = 'ecml'::regnamespace
UNION ALL
SELECT 'access method ' || amname FROM pg_am WHERE amname LIKE 'ecml%'
UNION ALL
SELECT 'operator class ' || opcname FROM pg_opclass WHERE opcnamespace = 'ecml'::regnamespace
ORDER BY 1
SQL
)
q -d "$old" -c "$shape" >/tmp/ecml_update_old.$$
q -d "$new" -c "$shape" >/tmp/ecml_update_new.$$
if diff /tmp/ecml_update_old.$$ /tmp/ecml_update_new.$$ >/tmp/ecml_update_diff.$$; then
    echo "ok: the updated extension has the fresh install's $(wc -l </tmp/ecml_update_new.$$) objects, definitions and comments"
else
    echo "not ok: the updated extension differs from a fresh install (< updated, > fresh):"
    head -n 40 /tmp/ecml_update_diff.$$
    fail=1
fi
rm -f /tmp/ecml_update_old.$$ /tmp/ecml_update_new.$$ /tmp/ecml_update_diff.$$
exit $fail
