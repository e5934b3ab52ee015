#!/usr/bin/env bash
# Privileges (issue 8, part 7; docs/security.md):
# - without USAGE on schema ecml nothing is reachable (42501);
# - with USAGE only, a role that is not a superuser trains and scores every
#   kind of model, but cannot read or write the registry (42501);
# - SELECT on ecml.models lets a role read models with ecml.model();
#   SELECT, INSERT, UPDATE let it save them, DELETE retire them;
# - row security: those rights reach only the models whose owner role the
#   caller belongs to; a role with every table privilege can neither read,
#   replace, delete nor hand over another team's model, nor plant one in
#   its name; a reader granted the metadata columns sees no weights;
# - nothing is SECURITY DEFINER, and the functions that run SQL inside
#   (ecml.model's SPI query, ecml.save_model's plpgsql) ignore a hostile
#   search_path: a shadowing models table, = operator, ->> operator,
#   model_info, quote_ident or pg_has_role function, in a schema or in
#   pg_temp, is never used;
# - ecml is not a trusted extension: a database owner who is not a
#   superuser cannot install it; once a superuser has, the owner of the
#   database can be given the registry with grant option.
set -euo pipefail
db=ecml_privileges
tdb=ecml_privileges_trusted
sdb=ecml_privileges_squat
roles=(ecml_p_none ecml_p_user ecml_p_reader ecml_p_writer ecml_p_other ecml_p_meta ecml_p_dbo ecml_p_team)
cleanup() {
    dropdb --if-exists "$db" 2>/dev/null || true
    dropdb --if-exists "$tdb" 2>/dev/null || true
    dropdb --if-exists "$sdb" 2>/dev/null || true
    for r in "${roles[@]}"; do psql -X -q -d postgres -c "DROP ROLE IF EXISTS $r" 2>/dev/null || true; done
}
trap cleanup EXIT
cleanup

fail=0
n=0
# as ROLE in DB: SQL must succeed
ok() {
    local role=$1 d=$2 what=$3 sql=$4 out
    n=$((n + 1))
    if out=$(psql -X -q -At -v ON_ERROR_STOP=1 -U "$role" -d "$d" -c "$sql" 2>&1); then
        echo "ok: $role: $what"
    else
        echo "FAILED: $role: $what: $out"
        fail=1
    fi
}
# as ROLE in DB: SQL must succeed and print exactly WANT
is() {
    local role=$1 d=$2 what=$3 want=$4 sql=$5 out
    n=$((n + 1))
    # the last line: what the last statement returned
    out=$(psql -X -q -At -v ON_ERROR_STOP=1 -U "$role" -d "$d" -c "$sql" 2>&1 | tail -n 1) || true
    if [ "$out" = "$want" ]; then
        echo "ok: $role: $what"
    else
        echo "FAILED: $role: $what: got '$out', want '$want'"
        fail=1
    fi
}
# as ROLE in DB: SQL must fail with exactly "ERROR:  <SQLSTATE>: <message>"
denied() {
    local role=$1 d=$2 what=$3 want=$4 sql=$5 out
    n=$((n + 1))
    out=$(printf '\\set VERBOSITY verbose\n%s\n' "$sql" |
        psql -X -q -At -v ON_ERROR_STOP=1 -U "$role" -d "$d" 2>&1) && {
        echo "FAILED: $role: $what: succeeded"
        fail=1
        return
    }
    if grep -qxF "ERROR:  $want" <<<"$out"; then
        echo "ok: $role: $what: $want"
    else
        echo "FAILED: $role: $what: want 'ERROR:  $want', got: $(printf '%s' "$out" | head -n 2)"
        fail=1
    fi
}

createdb "$db"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<'SQL'
CREATE EXTENSION ecml;
CREATE ROLE ecml_p_none LOGIN;
CREATE ROLE ecml_p_user LOGIN;
CREATE ROLE ecml_p_reader LOGIN;
CREATE ROLE ecml_p_writer LOGIN;
CREATE ROLE ecml_p_other LOGIN;
CREATE ROLE ecml_p_meta LOGIN;
CREATE ROLE ecml_p_dbo LOGIN;
-- the team that owns the models: no privileges of its own (docs/security.md)
CREATE ROLE ecml_p_team NOLOGIN;
GRANT ecml_p_team TO ecml_p_reader, ecml_p_writer, ecml_p_meta;
-- what a DBA grants (docs/security.md): USAGE to use ecml at all, then the registry
GRANT USAGE ON SCHEMA ecml TO ecml_p_user, ecml_p_reader, ecml_p_writer, ecml_p_other, ecml_p_meta;
GRANT SELECT ON ecml.models TO ecml_p_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON ecml.models TO ecml_p_writer, ecml_p_other;
GRANT SELECT (name, kind, trained_at, rows, metrics, owner) ON ecml.models TO ecml_p_meta;
-- each role has a schema of its own for its tables (and hostile objects)
CREATE SCHEMA AUTHORIZATION ecml_p_user;
CREATE SCHEMA AUTHORIZATION ecml_p_writer;
CREATE SCHEMA AUTHORIZATION ecml_p_other;
SELECT ecml.save_model('m', ecml.logreg_train(ARRAY[i % 7, sin(i)]::real[], i % 3 = 0))
FROM generate_series(1, 200) i;
UPDATE ecml.models SET owner = 'ecml_p_team' WHERE name = 'm';
SQL

# ---- the catalog: no SECURITY DEFINER; SQL-bodied functions pin search_path
is postgres "$db" "no ecml function is SECURITY DEFINER" 0 \
    "SELECT count(*) FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
       AND d.deptype = 'e' AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'ecml')
     WHERE p.prosecdef"
# ecml.evaluate, ecml.save_version and ecml.tune run the caller's query (a
# holdout, a source) under the caller's search_path, as ecml.train does:
# they pin pg_catalog, pg_temp themselves around it (checked with a
# hostile search_path below)
is postgres "$db" "every ecml function in SQL or PL/pgSQL sets search_path = pg_catalog, pg_temp" 0 \
    "SELECT count(*) FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
       JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
       AND d.deptype = 'e' AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'ecml')
     WHERE l.lanname NOT IN ('c', 'internal')
       AND NOT coalesce(p.proconfig @> '{\"search_path=pg_catalog, pg_temp\"}', false)
       AND NOT (p.proname IN ('evaluate', 'save_version', 'tune')
                AND p.prosrc LIKE '%set_config(''search_path'', ''pg_catalog, pg_temp'', true)%')"
is postgres "$db" "the registry grants nothing to PUBLIC" 0 \
    "SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = 'ecml.models'::regclass AND a.grantee = 0"
is postgres "$db" "ecml is not a trusted extension" f \
    "SELECT trusted FROM pg_available_extension_versions WHERE name = 'ecml' AND version = (SELECT extversion FROM pg_extension WHERE extname = 'ecml')"

# ---- no USAGE on schema ecml
denied ecml_p_none "$db" "without USAGE on schema ecml" \
    "42501: permission denied for schema ecml" "SELECT ecml.l2_distance('{1,2}', '{3,4}')"

# ---- USAGE only: train and score every kind, no registry
ok ecml_p_user "$db" "trains a model of every kind into its own table" "
CREATE TABLE ecml_p_user.mine AS
SELECT 'logreg' AS kind, ecml.logreg_train(ARRAY[i % 7, sin(i)]::real[], i % 3 = 0) AS m FROM generate_series(1, 200) i
UNION ALL SELECT 'gbdt', ecml.fraud_train(ARRAY[i % 7, sin(i)]::real[], i % 3 = 0, '{\"n_trees\": 5}') FROM generate_series(1, 200) i
UNION ALL SELECT 'iforest', ecml.anomaly_train(ARRAY[i % 7, sin(i)]::real[], '{\"n_trees\": 5}') FROM generate_series(1, 200) i
UNION ALL SELECT 'mf', ecml.mf_train(i % 13, i % 17, 1, '{\"factors\": 4, \"iterations\": 2}') FROM generate_series(1, 300) i
UNION ALL SELECT 'vectors', ecml.pack_vectors(i, ARRAY[sin(i), cos(i)]::real[]) FROM generate_series(1, 50) i
UNION ALL SELECT 'lstm', ecml.lstm_train(ARRAY[i % 3, i % 5, i % 4]::bigint[], '{\"epochs\": 1, \"hidden_size\": 4, \"embedding_dim\": 4}') FROM generate_series(1, 50) i"
is ecml_p_user "$db" "scores with every kind" 6 "
SELECT (SELECT ecml.logreg_predict(m, '{1, 0.5}') BETWEEN 0 AND 1 FROM ecml_p_user.mine WHERE kind = 'logreg')::int
     + (SELECT ecml.fraud_score(m, '{1, 0.5}') BETWEEN 0 AND 1 FROM ecml_p_user.mine WHERE kind = 'gbdt')::int
     + (SELECT ecml.anomaly_score(m, '{1, 0.5}') BETWEEN 0 AND 1 FROM ecml_p_user.mine WHERE kind = 'iforest')::int
     + (SELECT count(*) = 3 FROM ecml_p_user.mine, ecml.mf_recommend(m, 1, 3, false) WHERE kind = 'mf')::int
     + (SELECT count(*) = 3 FROM ecml_p_user.mine, ecml.search(m, '{1, 0}', 3) WHERE kind = 'vectors')::int
     + (SELECT count(*) = 2 FROM ecml_p_user.mine, ecml.lstm_top(m, '{1, 2}'::bigint[], 2) WHERE kind = 'lstm')::int"
denied ecml_p_user "$db" "ecml.model() without SELECT on the registry" \
    "42501: permission denied for table models" "SELECT ecml.model('m')"
denied ecml_p_user "$db" "ecml.save_model() without write grants" \
    "42501: permission denied for table models" \
    "SELECT ecml.save_model('mine', m) FROM ecml_p_user.mine WHERE kind = 'logreg'"
denied ecml_p_user "$db" "reading ecml.models directly" \
    "42501: permission denied for table models" "SELECT count(*) FROM ecml.models"
denied ecml_p_user "$db" "deleting from ecml.models" \
    "42501: permission denied for table models" "DELETE FROM ecml.models WHERE name = 'm'"

# ---- SELECT: read, not write
is ecml_p_reader "$db" "ecml.model() with SELECT on the registry scores" t \
    "SELECT ecml.logreg_predict(ecml.model('m'), '{1, 0.5}') BETWEEN 0 AND 1"
denied ecml_p_reader "$db" "ecml.save_model() with SELECT only" \
    "42501: permission denied for table models" "SELECT ecml.save_model('r', ecml.model('m'))"
denied ecml_p_reader "$db" "DELETE with SELECT only" \
    "42501: permission denied for table models" "DELETE FROM ecml.models WHERE name = 'm'"

# ---- SELECT, INSERT, UPDATE, DELETE: save, replace, retire
ok ecml_p_writer "$db" "ecml.save_model() saves and replaces" \
    "SELECT ecml.save_model('w', ecml.model('m')); SELECT ecml.save_model('w', ecml.model('m'))"
ok ecml_p_writer "$db" "DELETE retires a model" "DELETE FROM ecml.models WHERE name = 'w'"

# ---- row security: the same rights, another team's models
is ecml_p_other "$db" "a role outside the owner's team does not see its model" 0 \
    "SELECT count(*) FROM ecml.models WHERE name = 'm'"
denied ecml_p_other "$db" "ecml.model() of another team's model" \
    "42704: ecml model \"m\" does not exist" "SELECT ecml.model('m')"
denied ecml_p_other "$db" "ecml.save_model() over another team's model" \
    "42501: new row violates row-level security policy (USING expression) for table \"models\"" \
    "SELECT ecml.save_model('m', ecml.logreg_train(ARRAY[i, 1]::real[], i % 2 = 0)) FROM generate_series(1, 20) i"
is ecml_p_other "$db" "UPDATE and DELETE of another team's model change nothing" "0|0" \
    "WITH u AS (UPDATE ecml.models SET rows = 0 WHERE name = 'm' RETURNING 1),
          d AS (DELETE FROM ecml.models WHERE name = 'm' RETURNING 1)
     SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM d)"
denied ecml_p_other "$db" "a model planted in another team's name" \
    "42501: new row violates row-level security policy for table \"models\"" \
    "INSERT INTO ecml.models (name, kind, model, trained_at, rows, owner)
     SELECT 'planted', 'logreg', ecml.logreg_train(ARRAY[i, 1]::real[], i % 2 = 0), now(), 1, 'ecml_p_team' FROM generate_series(1, 20) i"
denied ecml_p_other "$db" "its own model handed to a team it does not belong to" \
    "42501: new row violates row-level security policy for table \"models\"" \
    "SELECT ecml.save_model('o', ecml.logreg_train(ARRAY[i, 1]::real[], i % 2 = 0)) FROM generate_series(1, 20) i;
     UPDATE ecml.models SET owner = 'ecml_p_team' WHERE name = 'o'"
is postgres "$db" "the team's model is unchanged" "ecml_p_team|200" \
    "SELECT owner, rows FROM ecml.models WHERE name = 'm'"
is ecml_p_meta "$db" "a reader granted the metadata columns lists its team's models" "m|logreg|ecml_p_team" \
    "SELECT name, kind, owner FROM ecml.models"
denied ecml_p_meta "$db" "a metadata reader reading the weights" \
    "42501: permission denied for table models" "SELECT model FROM ecml.models"
denied ecml_p_meta "$db" "a metadata reader calling ecml.model()" \
    "42501: permission denied for table models" "SELECT ecml.model('m')"

# ---- hostile search_path (as the writer, who owns a schema of its own)
psql -X -q -v ON_ERROR_STOP=1 -U ecml_p_writer -d "$db" >/dev/null <<'SQL'
SET search_path = ecml_p_writer;
CREATE TABLE hits (what text);
-- a look-alike registry holding another model under the same name
CREATE TABLE models (name text, kind text, model bytea, trained_at timestamptz, rows bigint, metrics jsonb);
INSERT INTO models SELECT 'm', 'logreg', ecml.logreg_train(ARRAY[i, 1]::real[], i % 2 = 0), now(), 1, NULL
FROM generate_series(1, 20) i;
-- operators and a function that would match every row and record being used
CREATE FUNCTION text_eq(a text, b text) RETURNS boolean LANGUAGE plpgsql AS
$$BEGIN INSERT INTO ecml_p_writer.hits VALUES ('= ' || a); RETURN true; END$$;
CREATE OPERATOR = (LEFTARG = text, RIGHTARG = text, FUNCTION = text_eq);
CREATE FUNCTION jsonb_field(j jsonb, k text) RETURNS text LANGUAGE plpgsql AS
$$BEGIN INSERT INTO ecml_p_writer.hits VALUES ('->> ' || k); RETURN 'gbdt'; END$$;
CREATE OPERATOR ->> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = jsonb_field);
CREATE FUNCTION model_info(bytea) RETURNS jsonb LANGUAGE plpgsql AS
$$BEGIN INSERT INTO ecml_p_writer.hits VALUES ('model_info'); RETURN '{"kind": "gbdt"}'; END$$;
-- would make a saved model the team's, or let every row pass the policy
CREATE FUNCTION quote_ident(name) RETURNS text LANGUAGE plpgsql AS
$$BEGIN INSERT INTO ecml_p_writer.hits VALUES ('quote_ident'); RETURN 'ecml_p_team'; END$$;
CREATE FUNCTION pg_has_role(name, oid, text) RETURNS boolean LANGUAGE plpgsql AS
$$BEGIN INSERT INTO ecml_p_writer.hits VALUES ('pg_has_role'); RETURN true; END$$;
SQL
# the policy is kept as parsed: a pg_has_role first in search_path is never called
psql -X -q -v ON_ERROR_STOP=1 -U ecml_p_other -d "$db" >/dev/null <<'SQL'
CREATE FUNCTION ecml_p_other.pg_has_role(name, oid, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
SQL
is ecml_p_other "$db" "a pg_has_role first in search_path does not open other teams' models" 0 \
    "SET search_path = ecml_p_other, pg_catalog; SELECT count(*) FROM ecml.models WHERE name = 'm'"
hostile="SET search_path = ecml_p_writer, pg_catalog, ecml;"
# the hostile objects work: an unqualified query does use them
is ecml_p_writer "$db" "control: the hostile = operator is picked by an unqualified query" 1 \
    "$hostile DELETE FROM hits; SELECT count(*) FROM models WHERE name = 'zzz'; RESET search_path;
     SELECT count(*) FROM ecml_p_writer.hits WHERE what LIKE '= %'" 
is ecml_p_writer "$db" "ecml.model() under a hostile search_path reads ecml.models only" "t|0" \
    "$hostile DELETE FROM hits; SELECT md5(ecml.model('m')) = (SELECT md5(model) FROM ecml.models WHERE name OPERATOR(pg_catalog.=) 'm')
       AND md5(ecml.model('m')) <> (SELECT md5(model) FROM ecml_p_writer.models LIMIT 1)
       , (SELECT count(*) FROM hits)" 
is ecml_p_writer "$db" "ecml.save_model() under a hostile search_path writes ecml.models with the right metadata and owner" "logreg|ecml_p_writer|0|1" \
    "$hostile DELETE FROM hits; SELECT ecml.save_model('h', ecml.model('m'));
     SELECT kind, owner, (SELECT count(*) FROM hits), (SELECT count(*) FROM ecml_p_writer.models)
     FROM ecml.models WHERE name OPERATOR(pg_catalog.=) 'h'" 
is ecml_p_writer "$db" "pg_temp look-alikes first in search_path are not used either" "t|0" \
    "CREATE TEMP TABLE models AS SELECT * FROM ecml_p_writer.models;
     SET search_path = pg_temp, ecml_p_writer, pg_catalog; DELETE FROM ecml_p_writer.hits;
     SELECT ecml.save_model('h', ecml.model('m'));
     SELECT md5(ecml.model('h')) = (SELECT md5(model) FROM ecml.models WHERE name OPERATOR(pg_catalog.=) 'm')
            AND md5(ecml.model('h')) <> (SELECT md5(model) FROM pg_temp.models LIMIT 1),
            (SELECT count(*) FROM ecml_p_writer.hits)"
is ecml_p_writer "$db" "ecml.save_version(), ecml.evaluate() and ecml.tune() under a hostile search_path: the caller's query finds the caller's table, nothing else is captured" "3|50|1|0" \
    "CREATE TABLE ecml_p_writer.hrows AS SELECT ARRAY[i % 7, sin(i)]::real[] AS f, i % 3 = 0 AS y FROM generate_series(1, 100) i;
     $hostile DELETE FROM hits;
     SELECT ecml.save_version('h', ecml.model('m'), '{\"holdout\": \"SELECT f, y FROM hrows WHERE y OR NOT y LIMIT 50\", \"tolerance\": 1}');
     SELECT max(version), (SELECT (holdout_metrics OPERATOR(pg_catalog.->>) 'rows') FROM ecml.models WHERE name OPERATOR(pg_catalog.=) 'h' AND live),
            (SELECT count(*) FROM ecml.tune('logreg', 'SELECT f, y FROM hrows', '{\"l2\": [0.1]}', '{\"folds\": 2}')),
            (SELECT count(*) FROM hits)
     FROM ecml.models WHERE name OPERATOR(pg_catalog.=) 'h'"

# ---- not trusted: a database owner who is not a superuser cannot install
# ecml; a superuser does, and hands the registry on to that owner
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $tdb OWNER ecml_p_dbo" >/dev/null
denied ecml_p_user "$tdb" "CREATE EXTENSION without CREATE on the database" \
    "42501: permission denied for database $tdb" "CREATE EXTENSION ecml"
denied ecml_p_dbo "$tdb" "the database owner (not a superuser) cannot install ecml" \
    "42501: permission denied to create extension \"ecml\"" "CREATE EXTENSION ecml"
ok postgres "$tdb" "a superuser installs ecml and gives the owner the registry" \
    "CREATE EXTENSION ecml; GRANT USAGE ON SCHEMA ecml TO ecml_p_dbo;
     GRANT SELECT, INSERT, UPDATE, DELETE ON ecml.models TO ecml_p_dbo WITH GRANT OPTION;
     GRANT ecml_p_team TO ecml_p_dbo"
is ecml_p_dbo "$tdb" "the owner manages the registry, hands a model to the team and grants it on" "t" \
    "SELECT ecml.save_model('d', ecml.logreg_train(ARRAY[i, 1]::real[], i % 2 = 0)) FROM generate_series(1, 20) i;
     UPDATE ecml.models SET owner = 'ecml_p_team' WHERE name = 'd';
     GRANT SELECT ON ecml.models TO ecml_p_reader;
     SELECT ecml.model('d') IS NOT NULL"
is postgres "$tdb" "the superuser grants USAGE on schema ecml to the reader" "" \
    "GRANT USAGE ON SCHEMA ecml TO ecml_p_reader"
is ecml_p_reader "$tdb" "a role the owner granted SELECT reads the registry" "t" \
    "SELECT ecml.logreg_predict(ecml.model('d'), '{1, 1}') BETWEEN 0 AND 1"
is ecml_p_dbo "$tdb" "the two server guards are superuser-set, every other ecml setting a user may set" \
    "ecml.blas_threads:superuser,ecml.hnsw_ef_search:user,ecml.hnsw_max_scan_tuples:user,ecml.hnsw_strict_order:user,ecml.keep_versions:user,ecml.progress:user,ecml.train_memory_limit:superuser" \
    "SELECT ecml.version() IS NOT NULL; SELECT string_agg(name || ':' || context, ',' ORDER BY name) FROM pg_settings WHERE name LIKE 'ecml.%'"

# ---- a schema ecml made beforehand by someone else, holding an overload
# that would capture ecml.logreg_predict(model, '{...}'): refused
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $sdb OWNER ecml_p_dbo" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 -d "$sdb" -c "GRANT CREATE ON DATABASE $sdb TO ecml_p_user" >/dev/null
ok ecml_p_user "$sdb" "another role squats schema ecml with a look-alike function" \
    "CREATE SCHEMA ecml; CREATE FUNCTION ecml.logreg_predict(bytea, text) RETURNS float8 LANGUAGE sql AS 'SELECT 0.99'"
denied postgres "$sdb" "CREATE EXTENSION into a schema ecml that is not empty" \
    "42P06: schema \"ecml\" already exists and is not empty" "CREATE EXTENSION ecml"

echo "privilege checks: $n"
exit $fail
