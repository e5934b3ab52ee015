-- Model lifecycle (docs/lifecycle.md): numbered versions in ecml.models,
-- held-out evaluation, promotion by policy, rollback, retention, tuning.
-- This file is also the body of the update script from 0.1.0
-- (sql/update/), so every statement here must work on a registry that
-- ALTER EXTENSION has just upgraded: CREATE OR REPLACE for the functions
-- 0.1.0 already had.

-- Every promotion, refusal and rollback, with its reason.  The events are
-- kept with the version they are about (ecml.models.events), so writing
-- them needs no privilege beyond those that save and promote, a role
-- cannot log for another team's models, and pg_dump keeps them with the
-- versions; a pruned version takes its events along.
CREATE VIEW ecml.model_history WITH (security_invoker = true) AS
SELECT (e.value OPERATOR(pg_catalog.->>) 'at')::timestamptz AS at,
       m.name, m.version,
       e.value OPERATOR(pg_catalog.->>) 'event' AS event,
       (e.value OPERATOR(pg_catalog.->>) 'from_version')::integer AS from_version,
       e.value OPERATOR(pg_catalog.->>) 'metric' AS metric,
       (e.value OPERATOR(pg_catalog.->>) 'value')::double precision AS value,
       (e.value OPERATOR(pg_catalog.->>) 'live_value')::double precision AS live_value,
       (e.value OPERATOR(pg_catalog.->>) 'tolerance')::double precision AS tolerance,
       e.value OPERATOR(pg_catalog.->>) 'reason' AS reason,
       e.value OPERATOR(pg_catalog.->>) 'by' AS by,
       m.owner
FROM ecml.models m, pg_catalog.jsonb_array_elements(m.events) AS e(value);
COMMENT ON VIEW ecml.model_history IS
    'Every promotion, refused promotion and rollback of an ecml model version, with the metric compared and why: the events of ecml.models, as the caller''s row security sees them.';
-- Who may read the registry may read its history: a registry updated from
-- 0.1.0 has its grants already.
GRANT SELECT ON ecml.model_history TO @extowner@ WITH GRANT OPTION;
DO $$
DECLARE
    g record;
BEGIN
    FOR g IN SELECT DISTINCT a.grantee
             FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
             WHERE c.oid OPERATOR(pg_catalog.=) 'ecml.models'::pg_catalog.regclass
               AND a.privilege_type OPERATOR(pg_catalog.=) 'SELECT'
               AND a.grantee OPERATOR(pg_catalog.<>) c.relowner LOOP
        EXECUTE pg_catalog.format('GRANT SELECT ON ecml.model_history TO %s',
                                  CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                                       ELSE pg_catalog.quote_ident(g.grantee::pg_catalog.regrole::pg_catalog.text) END);
    END LOOP;
END
$$;

CREATE FUNCTION ecml.query_columns(query text) RETURNS regtype[]
    AS 'MODULE_PATHNAME', 'ecml_query_columns'
    LANGUAGE C STABLE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION ecml.query_columns(text) IS
    'The column types of query, which must be one SELECT; the query is parsed and planned, not run. Used to check that a held-out query has the columns of the training source.';

-- The held-out metrics of a model on the rows of holdout, a SELECT with
-- the columns of the kind's training aggregate.
CREATE FUNCTION ecml.evaluate(model bytea, holdout text) RETURNS jsonb
    LANGUAGE plpgsql STABLE PARALLEL UNSAFE
AS $$
DECLARE
    -- the holdout query reads the caller's tables: it runs under the
    -- caller's search_path, the rest under pg_catalog's (docs/lifecycle.md)
    caller_path pg_catalog.text := pg_catalog.current_setting('search_path');
    kind text;
    cols regtype[];
    need int;
    columns text;
    q text;
    result jsonb;
    type_ok boolean;
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    IF model IS NULL OR holdout IS NULL THEN
        RAISE EXCEPTION 'ecml.evaluate: model and holdout must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    kind := ecml.model_info(model)->>'kind';
    IF kind IN ('logreg', 'gbdt') THEN
        need := 2;
        columns := 'features real[], label boolean';
        q := format($q$
            SELECT pg_catalog.jsonb_build_object(
                'rows', pg_catalog.count(*),
                'auc', ecml.roc_auc(p, y),
                'average_precision', ecml.average_precision(p, y),
                'log_loss', ecml.log_loss(p, y),
                'accuracy', pg_catalog.avg(((p OPERATOR(pg_catalog.>=) 0.5) OPERATOR(pg_catalog.=) y)::integer)::double precision)
            FROM (SELECT %s($1, c1::real[])::double precision AS p, c2::boolean AS y
                  FROM (%s
                  ) AS ecml_holdout(c1, c2)) AS s WHERE y IS NOT NULL$q$,
            CASE kind WHEN 'logreg' THEN 'ecml.logreg_predict' ELSE 'ecml.fraud_score' END,
            holdout);
    ELSIF kind = 'mf' THEN
        need := 3;
        columns := 'user_id bigint, item_id bigint, value real';
        q := format($q$
            SELECT pg_catalog.jsonb_build_object('rows', pg_catalog.count(*),
                                      'rmse', ecml.rmse(ecml.mf_predict($1, c1::bigint, c2::bigint)::double precision, c3::double precision))
            FROM (%s
            ) AS ecml_holdout(c1, c2, c3)$q$, holdout);
    ELSE
        RAISE EXCEPTION 'ecml.evaluate has no held-out metrics for kind "%"', kind
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Held-out metrics exist for logreg and gbdt (AUC, average precision, log loss, accuracy) and mf (RMSE).';
    END IF;
    PERFORM pg_catalog.set_config('search_path', caller_path, true);
    cols := ecml.query_columns(holdout);
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    IF cardinality(cols) <> need THEN
        RAISE EXCEPTION 'ecml.evaluate: the held-out query returns % columns, a % model needs %',
                        cardinality(cols), kind, need
            USING ERRCODE = 'datatype_mismatch',
                  DETAIL = format('The columns, in this order: %s.', columns);
    END IF;
    -- numbers where the kind takes numbers (the casts in q do the rest)
    FOR i IN 1 .. need LOOP
        type_ok := CASE WHEN need = 2 AND i = 1
                        THEN (SELECT e.typcategory = 'N' FROM pg_type a JOIN pg_type e ON e.oid = a.typelem
                              WHERE a.oid = cols[i] AND a.typcategory = 'A')
                        WHEN need = 2 THEN cols[i] = 'boolean'::regtype
                        ELSE (SELECT t.typcategory = 'N' FROM pg_type t WHERE t.oid = cols[i]) END;
        IF NOT coalesce(type_ok, false) THEN
            RAISE EXCEPTION 'ecml.evaluate: column % of the held-out query is of type %, a % model needs %',
                            i, cols[i], kind, split_part(split_part(columns, ', ', i), ' ', 2)
                USING ERRCODE = 'datatype_mismatch',
                      DETAIL = format('The columns, in this order: %s.', columns);
        END IF;
    END LOOP;
    PERFORM pg_catalog.set_config('search_path', caller_path, true);
    EXECUTE q INTO result USING model;
    RETURN result;
END
$$;
COMMENT ON FUNCTION ecml.evaluate(bytea, text) IS
    'Held-out metrics of model on the rows of holdout (a SELECT with the columns of the kind''s training aggregate): rows, auc, average_precision, log_loss and accuracy for logreg and gbdt, rmse for mf.';

CREATE FUNCTION ecml.save_version(name text, model bytea, options jsonb DEFAULT '{}')
    RETURNS integer
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
-- ON CONFLICT (name) WHERE live names columns, not the variables
#variable_conflict use_column
DECLARE
    -- a holdout query runs under the caller's search_path (ecml.evaluate)
    caller_path pg_catalog.text := pg_catalog.current_setting('search_path');
    opts jsonb := coalesce(options, '{}');
    info jsonb;
    kind text;
    key text;
    policy text;
    tol float8 := 0;
    metric text;
    lower_better boolean;
    holdout text;
    ver int;
    nvisible int;
    owner_role regrole;
    live record;
    new_m jsonb;
    live_m jsonb;
    promote boolean;
    reason text;
    keep int;
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    IF name IS NULL OR model IS NULL THEN
        RAISE EXCEPTION 'ecml.save_version: name and model must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF jsonb_typeof(opts) <> 'object' THEN
        RAISE EXCEPTION 'ecml.save_version: options must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR key IN SELECT jsonb_object_keys(opts) LOOP
        IF key NOT IN ('promote', 'tolerance', 'metric', 'holdout', 'training_options', 'training_seconds') THEN
            RAISE EXCEPTION 'unknown ecml.save_version option "%"', key
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Options: promote, tolerance, metric, holdout, training_options, training_seconds.';
        END IF;
    END LOOP;
    IF opts ? 'holdout' AND jsonb_typeof(opts->'holdout') <> 'string' THEN
        RAISE EXCEPTION 'ecml.save_version option "holdout" must be a string (a SELECT)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    holdout := opts->>'holdout';
    IF opts ? 'promote' AND (jsonb_typeof(opts->'promote') <> 'string'
                             OR opts->>'promote' NOT IN ('always', 'never', 'if_not_worse')) THEN
        RAISE EXCEPTION 'ecml.save_version option "promote" must be "always", "never" or "if_not_worse"'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    policy := coalesce(opts->>'promote', CASE WHEN holdout IS NULL THEN 'always' ELSE 'if_not_worse' END);
    IF policy = 'if_not_worse' AND holdout IS NULL THEN
        RAISE EXCEPTION 'ecml.save_version: promote "if_not_worse" needs a holdout query'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give "holdout": a SELECT of held-out rows with the columns of the training source.';
    END IF;
    IF opts ? 'tolerance' THEN
        IF jsonb_typeof(opts->'tolerance') <> 'number'
           OR (opts->>'tolerance')::float8 NOT BETWEEN 0 AND 1 THEN
            RAISE EXCEPTION 'ecml.save_version option "tolerance" must be a number between 0 and 1'
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'The tolerance is the largest loss of the metric accepted, in its own units: 0.01 is one point of AUC.';
        END IF;
        tol := (opts->>'tolerance')::float8;
    END IF;
    IF opts ? 'training_options' AND jsonb_typeof(opts->'training_options') <> 'object' THEN
        RAISE EXCEPTION 'ecml.save_version option "training_options" must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF opts ? 'training_seconds' AND (jsonb_typeof(opts->'training_seconds') <> 'number'
                                      OR (opts->>'training_seconds')::float8 < 0) THEN
        RAISE EXCEPTION 'ecml.save_version option "training_seconds" must be a number of seconds, 0 or more'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- kind, rows and created_at come from the validated header
    info := ecml.model_info(model);
    kind := info->>'kind';
    metric := coalesce(opts->>'metric', CASE kind WHEN 'mf' THEN 'rmse' ELSE 'auc' END);
    lower_better := metric IN ('log_loss', 'rmse');
    IF holdout IS NOT NULL THEN
        PERFORM pg_catalog.set_config('search_path', caller_path, true);
        new_m := ecml.evaluate(model, holdout);
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        IF NOT new_m ? metric THEN
            RAISE EXCEPTION 'ecml.save_version: no held-out metric "%" for a % model', metric, kind
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = format('The metrics: %s.', (SELECT string_agg(k, ', ') FROM jsonb_object_keys(new_m) k WHERE k <> 'rows'));
        END IF;
    END IF;

    -- one writer of a name at a time: the next version and the live flag are read, then written
    PERFORM pg_advisory_xact_lock(hashtext('ecml.models'), hashtext(name));
    SELECT max(m.version), count(*), (array_agg(m.owner ORDER BY m.version DESC))[1]
      INTO ver, nvisible, owner_role
      FROM ecml.models m WHERE m.name = save_version.name;
    ver := coalesce(ver, 0) + 1;
    owner_role := coalesce(owner_role, quote_ident(CURRENT_USER)::regrole);
    SELECT m.version, m.kind, m.model, m.promoted INTO live
      FROM ecml.models m WHERE m.name = save_version.name AND m.live;

    IF live.version IS NULL THEN
        -- nothing live to compare with: the first version goes live
        promote := true;
        reason := 'first live version';
    ELSIF policy = 'always' THEN
        promote := true;
        reason := 'promote "always"';
    ELSIF policy = 'never' THEN
        promote := false;
        reason := 'promote "never": kept, not promoted';
    ELSIF live.kind <> kind THEN
        promote := false;
        reason := format('the live version %s is a %s model, this one a %s model', live.version, live.kind, kind);
    ELSE
        -- the live version scored now, on the same rows as the new one
        PERFORM pg_catalog.set_config('search_path', caller_path, true);
        live_m := ecml.evaluate(live.model, holdout);
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        IF (live_m->>metric) IS NULL OR (new_m->>metric) IS NULL THEN
            promote := false;
            reason := format('%s is undefined on the held-out rows', metric);
        ELSE
            promote := CASE WHEN lower_better
                            THEN (new_m->>metric)::float8 - (live_m->>metric)::float8 <= tol
                            ELSE (live_m->>metric)::float8 - (new_m->>metric)::float8 <= tol END;
            reason := format('%s %s on the held-out rows, live version %s: %s (%s is better, tolerance %s)',
                             metric, round((new_m->>metric)::numeric, 6), live.version,
                             round((live_m->>metric)::numeric, 6),
                             CASE WHEN lower_better THEN 'lower' ELSE 'higher' END, tol);
        END IF;
    END IF;

    IF promote AND live.version IS NOT NULL THEN
        UPDATE ecml.models m SET live = false WHERE m.name = save_version.name AND m.live;
    END IF;
    -- A name whose versions row security hides (another team's) has a live
    -- row this role cannot see: the insert of a first live version meets it
    -- in models_live, and DO UPDATE's row security check refuses it (42501).
    INSERT INTO ecml.models AS m (name, version, kind, model, trained_at, rows, metrics, owner,
                                  live, options, training_seconds, holdout, holdout_metrics, promoted, events)
    VALUES (save_version.name, ver, kind, save_version.model,
            (info->>'created_at')::timestamptz, (info->>'rows')::bigint, info->'metrics', owner_role,
            promote, opts->'training_options', (opts->>'training_seconds')::float8, holdout, new_m,
            CASE WHEN promote THEN coalesce(live.promoted, 0) + 1 END,
            jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
                'at', clock_timestamp(), 'event', CASE WHEN promote THEN 'promoted' ELSE 'refused' END,
                'from_version', live.version, 'reason', reason,
                'metric', CASE WHEN new_m IS NOT NULL THEN metric END, 'value', new_m->metric,
                'live_value', live_m->metric,
                'tolerance', CASE WHEN policy = 'if_not_worse' AND live.version IS NOT NULL THEN tol END,
                'by', CURRENT_USER))))
    ON CONFLICT (name) WHERE live DO UPDATE SET live = true;

    IF NOT promote THEN
        RAISE WARNING 'ecml model "%" version % was saved but not promoted: %', name, ver, reason
            USING HINT = format('Version %s stays live. ecml.promote(%L, %s) promotes the new one anyway.',
                                live.version, name, ver);
    END IF;

    -- retention: the newest ecml.keep_versions versions, and the live one
    PERFORM ecml.version();		-- the library defines the setting
    keep := current_setting('ecml.keep_versions')::int;
    IF keep > 0 THEN
        DELETE FROM ecml.models m
        WHERE m.name = save_version.name AND NOT m.live
          AND m.version NOT IN (SELECT k.version FROM ecml.models k
                                WHERE k.name = save_version.name ORDER BY k.version DESC LIMIT keep);
    END IF;
    PERFORM pg_catalog.set_config('search_path', caller_path, true);
    RETURN ver;
END
$$;
COMMENT ON FUNCTION ecml.save_version(text, bytea, jsonb) IS
    'Validates a model and stores it in ecml.models as the next version of name; returns the version. options: holdout (a SELECT of held-out rows: the metrics are stored with the version, and the live version is scored on the same rows), promote ("always", "never", "if_not_worse": the default with a holdout), tolerance (0 to 1, in the metric''s units), metric (auc by default, rmse for mf), training_options, training_seconds. A version not promoted is kept, with a WARNING and a row in ecml.model_history. The first version of a name is always live. ecml.keep_versions prunes old versions, never the live one.';

CREATE OR REPLACE FUNCTION ecml.save_model(name text, model bytea) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF name IS NULL OR model IS NULL THEN
        RAISE EXCEPTION 'ecml.save_model: name and model must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM ecml.save_version(name, model, '{"promote": "always"}');
END
$$;
COMMENT ON FUNCTION ecml.save_model(text, bytea) IS
    'Validates a model and stores it in ecml.models as the next version of name, promoted to live at once (ecml.save_version() with promote "always"). A new name belongs to the current role, a new version keeps the name''s owner; row security refuses to save under a name whose owner role the caller does not belong to.';

CREATE FUNCTION ecml.model(name text, version integer) RETURNS bytea
    AS 'MODULE_PATHNAME', 'ecml_model_version'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.model(text, integer) IS
    'Version version of the model stored in ecml.models under name, live or not, as the caller''s snapshot and row security see it; an error if there is none. Read once per query and snapshot, not once per row.';

CREATE FUNCTION ecml.promote(name text, version integer) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    target record;
    live record;
BEGIN
    IF name IS NULL OR version IS NULL THEN
        RAISE EXCEPTION 'ecml.promote: name and version must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- one writer of a name at a time: the next version and the live flag are read, then written
    PERFORM pg_advisory_xact_lock(hashtext('ecml.models'), hashtext(name));
    SELECT m.version, m.kind, m.owner INTO target
      FROM ecml.models m WHERE m.name = promote.name AND m.version = promote.version;
    IF target.version IS NULL THEN
        RAISE EXCEPTION 'ecml model "%" has no version %', name, version
            USING ERRCODE = 'undefined_object',
                  HINT = 'SELECT version, live FROM ecml.models WHERE name = ... lists the versions you may read.';
    END IF;
    SELECT m.version, m.kind, m.promoted INTO live
      FROM ecml.models m WHERE m.name = promote.name AND m.live;
    IF live.version = target.version THEN
        RETURN;
    END IF;
    IF live.kind <> target.kind THEN
        RAISE EXCEPTION 'ecml model "%" version % is a % model, the live version % a % model',
                        name, version, target.kind, live.version, live.kind
            USING ERRCODE = 'datatype_mismatch',
                  HINT = 'Scoring queries call the live kind''s functions: save the other kind under another name.';
    END IF;
    UPDATE ecml.models m SET live = false WHERE m.name = promote.name AND m.live;
    UPDATE ecml.models m SET live = true,
           promoted = (SELECT coalesce(max(k.promoted), 0) + 1 FROM ecml.models k WHERE k.name = promote.name),
           events = m.events || jsonb_strip_nulls(jsonb_build_object(
               'at', clock_timestamp(), 'event', 'promoted', 'from_version', live.version,
               'reason', 'ecml.promote()', 'by', CURRENT_USER))
     WHERE m.name = promote.name AND m.version = promote.version;
END
$$;
COMMENT ON FUNCTION ecml.promote(text, integer) IS
    'Makes version version of the model name the live one (what ecml.model(name) returns), whatever its metrics; logged in ecml.model_history. Statements already running keep the version they read.';

CREATE FUNCTION ecml.rollback(name text) RETURNS integer
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    live record;
    prev int;
BEGIN
    IF name IS NULL THEN
        RAISE EXCEPTION 'ecml.rollback: name must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- one writer of a name at a time: the next version and the live flag are read, then written
    PERFORM pg_advisory_xact_lock(hashtext('ecml.models'), hashtext(name));
    SELECT m.version, m.promoted, m.owner INTO live
      FROM ecml.models m WHERE m.name = rollback.name AND m.live;
    IF live.version IS NULL THEN
        RAISE EXCEPTION 'ecml model "%" does not exist', name
            USING ERRCODE = 'undefined_object',
                  HINT = 'SELECT DISTINCT name FROM ecml.models lists the models you may read.';
    END IF;
    SELECT m.version INTO prev FROM ecml.models m
     WHERE m.name = rollback.name AND NOT m.live AND m.promoted < live.promoted
     ORDER BY m.promoted DESC LIMIT 1;
    IF prev IS NULL THEN
        RAISE EXCEPTION 'ecml model "%" has no previous live version to roll back to', name
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('Version %s is the first version of it that went live, or the earlier ones were pruned.', live.version),
                  HINT = 'ecml.promote(name, version) makes any kept version live.';
    END IF;
    -- the rolled-back version leaves the promotion order: a second rollback
    -- goes one further back
    UPDATE ecml.models m SET live = false, promoted = NULL
     WHERE m.name = rollback.name AND m.version = live.version;
    UPDATE ecml.models m SET live = true,
           events = m.events || jsonb_strip_nulls(jsonb_build_object(
               'at', clock_timestamp(), 'event', 'rolled_back', 'from_version', live.version,
               'reason', 'ecml.rollback()', 'by', CURRENT_USER))
     WHERE m.name = rollback.name AND m.version = prev;
    RETURN prev;
END
$$;
COMMENT ON FUNCTION ecml.rollback(text) IS
    'Makes the version that was live before the live one live again, in one statement, and returns its number; logged in ecml.model_history. Repeated, it goes further back. An error if there is no earlier live version left.';

-- ecml.tune: k-fold cross-validation (or one validation split) over a grid
-- or a random sample of it.  Every fold of every option set is one run of
-- the kind's training aggregate over the source query, scored by
-- ecml.evaluate() on the fold's held-out rows: the work stays in the
-- database, and each statement it runs checks for cancel and
-- statement_timeout.  A row's fold comes from a hash of its values, so
-- the folds are the same in every run and for every option set.
CREATE FUNCTION ecml.tune(kind text, source text, grid jsonb, options jsonb DEFAULT '{}')
    RETURNS TABLE (rank integer, training_options jsonb, metric text, mean double precision,
                   spread double precision, folds integer, seconds double precision)
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
AS $$
DECLARE
    -- the source query reads the caller's tables: it runs under the
    -- caller's search_path, the rest under pg_catalog's (docs/lifecycle.md)
    caller_path pg_catalog.text := pg_catalog.current_setting('search_path');
    train_sql text;
    test_sql text;
    opts jsonb := coalesce(tune.options, '{}');
    key text;
    agg text;
    ncols int;
    cols regtype[];
    collist text;
    nfolds int := 5;
    fraction float8;
    search text := 'grid';
    trials int;
    seed int := 0;
    metric_name text;
    lower_better boolean;
    base jsonb := '{}';
    sets jsonb[] := ARRAY['{}'::jsonb];
    cand jsonb;
    vals jsonb;
    next_sets jsonb[];
    bucket text;
    train_where text;
    test_where text;
    m bytea;
    ev jsonb;
    scores float8[];
    t0 timestamptz;
    t1 timestamptz;
    best jsonb;
    save_as text;
    ver int;
    progress boolean;
    materialize boolean;
    rows_from text;
    r_opts jsonb[] := '{}';
    r_mean float8[] := '{}';
    r_spread float8[] := '{}';
    r_seconds float8[] := '{}';
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    -- the settings are defined when the library is loaded
    PERFORM ecml.version();
    progress := current_setting('ecml.progress') = 'on';
    IF tune.kind IS NULL OR tune.source IS NULL OR tune.grid IS NULL THEN
        RAISE EXCEPTION 'ecml.tune: kind, source and grid must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    CASE tune.kind
        WHEN 'logreg' THEN agg := 'ecml.logreg_train(c1::real[], c2::boolean, $1)'; ncols := 2;
        WHEN 'gbdt' THEN agg := 'ecml.fraud_train(c1::real[], c2::boolean, $1)'; ncols := 2;
        WHEN 'mf' THEN agg := 'ecml.mf_train(c1::bigint, c2::bigint, c3::real, $1)'; ncols := 3;
        ELSE
            RAISE EXCEPTION 'ecml.tune: no held-out metrics for kind "%"', tune.kind
                USING ERRCODE = 'feature_not_supported',
                      HINT = 'ecml.tune tunes logreg, gbdt and mf models.';
    END CASE;

    IF jsonb_typeof(opts) <> 'object' THEN
        RAISE EXCEPTION 'ecml.tune: options must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR key IN SELECT jsonb_object_keys(opts) LOOP
        IF key NOT IN ('folds', 'validation_fraction', 'search', 'trials', 'seed', 'metric', 'base', 'save_as', 'promote', 'tolerance', 'holdout', 'materialize') THEN
            RAISE EXCEPTION 'unknown ecml.tune option "%"', key
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Options: folds, validation_fraction, search, trials, seed, metric, base, save_as, promote, tolerance, holdout, materialize.';
        END IF;
    END LOOP;
    IF opts ? 'folds' THEN
        IF jsonb_typeof(opts->'folds') <> 'number' OR (opts->>'folds')::numeric NOT BETWEEN 2 AND 20
           OR (opts->>'folds')::numeric <> trunc((opts->>'folds')::numeric) THEN
            RAISE EXCEPTION 'ecml.tune option "folds" must be an integer from 2 to 20'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        nfolds := (opts->>'folds')::int;
    END IF;
    IF opts ? 'validation_fraction' THEN
        IF opts ? 'folds' THEN
            RAISE EXCEPTION 'ecml.tune: give "folds" or "validation_fraction", not both'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF jsonb_typeof(opts->'validation_fraction') <> 'number'
           OR (opts->>'validation_fraction')::float8 NOT BETWEEN 0.01 AND 0.99 THEN
            RAISE EXCEPTION 'ecml.tune option "validation_fraction" must be a number from 0.01 to 0.99'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        fraction := (opts->>'validation_fraction')::float8;
        nfolds := 1;
    END IF;
    IF opts ? 'search' THEN
        IF jsonb_typeof(opts->'search') <> 'string' OR opts->>'search' NOT IN ('grid', 'random') THEN
            RAISE EXCEPTION 'ecml.tune option "search" must be "grid" or "random"'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        search := opts->>'search';
    END IF;
    IF opts ? 'trials' THEN
        IF jsonb_typeof(opts->'trials') <> 'number' OR (opts->>'trials')::numeric NOT BETWEEN 1 AND 1000
           OR (opts->>'trials')::numeric <> trunc((opts->>'trials')::numeric) THEN
            RAISE EXCEPTION 'ecml.tune option "trials" must be an integer from 1 to 1000'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        trials := (opts->>'trials')::int;
    END IF;
    IF opts ? 'seed' THEN
        IF jsonb_typeof(opts->'seed') <> 'number' OR (opts->>'seed')::numeric NOT BETWEEN -2147483648 AND 2147483647
           OR (opts->>'seed')::numeric <> trunc((opts->>'seed')::numeric) THEN
            RAISE EXCEPTION 'ecml.tune option "seed" must be a 32-bit integer'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        seed := (opts->>'seed')::int;
    END IF;
    -- a temporary table needs a writable transaction on a primary
    materialize := NOT (pg_catalog.pg_is_in_recovery() OR current_setting('transaction_read_only')::boolean);
    IF opts ? 'materialize' THEN
        IF jsonb_typeof(opts->'materialize') <> 'boolean' THEN
            RAISE EXCEPTION 'ecml.tune option "materialize" must be true or false'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF (opts->>'materialize')::boolean AND NOT materialize THEN
            RAISE EXCEPTION 'ecml.tune cannot materialize the source in a read-only transaction'
                USING ERRCODE = 'read_only_sql_transaction',
                      HINT = 'Give "materialize": false: each fold then reruns the source query.';
        END IF;
        materialize := (opts->>'materialize')::boolean;
    END IF;
    IF opts ? 'base' THEN
        IF jsonb_typeof(opts->'base') <> 'object' THEN
            RAISE EXCEPTION 'ecml.tune option "base" must be a JSON object of training options'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        base := opts->'base';
    END IF;
    IF opts ? 'save_as' THEN
        IF jsonb_typeof(opts->'save_as') <> 'string' OR opts->>'save_as' = '' THEN
            RAISE EXCEPTION 'ecml.tune option "save_as" must be a non-empty string'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        save_as := opts->>'save_as';
    ELSIF opts ? 'promote' OR opts ? 'tolerance' OR opts ? 'holdout' THEN
        RAISE EXCEPTION 'ecml.tune options "promote", "tolerance" and "holdout" apply to the saved model: give "save_as" too'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    metric_name := coalesce(opts->>'metric', CASE tune.kind WHEN 'mf' THEN 'rmse' ELSE 'auc' END);
    IF metric_name NOT IN (CASE tune.kind WHEN 'mf' THEN 'rmse' ELSE 'auc' END,
                           'average_precision', 'log_loss', 'accuracy')
       OR (tune.kind = 'mf' AND metric_name <> 'rmse') THEN
        RAISE EXCEPTION 'ecml.tune: no held-out metric "%" for kind "%"', metric_name, tune.kind
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'logreg and gbdt: auc, average_precision, log_loss, accuracy; mf: rmse.';
    END IF;
    lower_better := metric_name IN ('log_loss', 'rmse');

    -- the grid: an object of non-empty arrays of values, one key per option
    IF jsonb_typeof(tune.grid) <> 'object' OR tune.grid = '{}' THEN
        RAISE EXCEPTION 'ecml.tune: grid must be a non-empty JSON object of option: [values]'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'For example {"l2": [0.001, 0.01, 0.1]}.';
    END IF;
    -- counted before the option sets are made
    IF (SELECT sum(ln(jsonb_array_length(v))) FROM jsonb_each(tune.grid) AS g(k, v)
        WHERE jsonb_typeof(v) = 'array' AND jsonb_array_length(v) > 0) > ln(10000) THEN
        RAISE EXCEPTION 'ecml.tune: the grid has more than 10000 option sets'
            USING ERRCODE = 'program_limit_exceeded',
                  HINT = 'Use "search": "random" with "trials", or fewer values.';
    END IF;
    FOR key, vals IN SELECT * FROM jsonb_each(tune.grid) LOOP
        IF jsonb_typeof(vals) <> 'array' OR jsonb_array_length(vals) = 0 THEN
            RAISE EXCEPTION 'ecml.tune: grid option "%" must be a non-empty array of values', key
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF key IN ('save_as', 'holdout', 'promote', 'tolerance') THEN
            RAISE EXCEPTION 'ecml.tune: "%" is not a training option', key
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        next_sets := '{}';
        FOREACH cand IN ARRAY sets LOOP
            next_sets := next_sets || ARRAY(SELECT cand || jsonb_build_object(key, v)
                                            FROM jsonb_array_elements(vals) WITH ORDINALITY AS e(v, i)
                                            ORDER BY i);
        END LOOP;
        sets := next_sets;
    END LOOP;
    IF search = 'random' THEN
        -- a deterministic sample of the grid: the seed picks it
        sets := ARRAY(SELECT s FROM unnest(sets) WITH ORDINALITY AS u(s, i)
                      ORDER BY hashtext(seed || ':' || i), i
                      LIMIT coalesce(trials, 10));
    ELSIF trials IS NOT NULL THEN
        RAISE EXCEPTION 'ecml.tune option "trials" needs "search": "random"'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- an unknown training option: the kind's aggregate refuses it in the first fold

    PERFORM pg_catalog.set_config('search_path', caller_path, true);
    cols := ecml.query_columns(tune.source);
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    IF cardinality(cols) <> ncols THEN
        RAISE EXCEPTION 'ecml.tune: source returns % columns, kind "%" needs %', cardinality(cols), tune.kind, ncols
            USING ERRCODE = 'datatype_mismatch',
                  DETAIL = CASE WHEN ncols = 3 THEN 'The columns, in this order: user_id bigint, item_id bigint, value real.'
                                ELSE 'The columns, in this order: features real[], label boolean.' END;
    END IF;
    collist := CASE WHEN ncols = 3 THEN 'c1, c2, c3' ELSE 'c1, c2' END;
    bucket := format('(pg_catalog.hashtext(ROW(%s)::pg_catalog.text) OPERATOR(pg_catalog.&) 2147483647) OPERATOR(pg_catalog.%%) 1000', collist);
    rows_from := format('(%s
                        ) AS ecml_source(%s)', tune.source, collist);
    IF materialize THEN
        -- the work every fold and option set shares, done once: the source
        -- query runs once and each row's bucket is hashed once (the hash
        -- casts the row to text, the dearest part of a fold's filter)
        rows_from := format('pg_temp.ecml_tune_%s', pg_catalog.md5(pg_catalog.clock_timestamp()::pg_catalog.text || pg_catalog.pg_backend_pid()));
        PERFORM pg_catalog.set_config('search_path', caller_path, true);
        EXECUTE format('CREATE TEMPORARY TABLE %s AS SELECT %s, %s AS ecml_bucket FROM (%s
                       ) AS ecml_source(%s)', rows_from, collist, bucket, tune.source, collist);
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        rows_from := rows_from || ' AS ecml_source';
        bucket := 'ecml_bucket';
    END IF;

    FOR i IN 1 .. cardinality(sets) LOOP
        cand := base || sets[i];
        scores := '{}';
        t0 := clock_timestamp();
        FOR f IN 0 .. nfolds - 1 LOOP
            IF fraction IS NOT NULL THEN
                test_where := format('%s OPERATOR(pg_catalog.<) %s', bucket, round(fraction * 1000));
            ELSE
                test_where := format('%s OPERATOR(pg_catalog.%%) %s OPERATOR(pg_catalog.=) %s', bucket, nfolds, f);
            END IF;
            train_where := format('NOT (%s)', test_where);
            train_sql := format('SELECT %s FROM %s WHERE %s', agg, rows_from, train_where);
            test_sql := format('SELECT %s FROM %s WHERE %s', collist, rows_from, test_where);
            PERFORM pg_catalog.set_config('search_path', caller_path, true);
            EXECUTE train_sql INTO m USING cand;
            ev := ecml.evaluate(m, test_sql);
            PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
            scores := scores || (ev->>metric_name)::float8;
            IF progress THEN
                RAISE NOTICE 'ecml.tune(%): option set % of %, fold % of %: % = %, % s elapsed',
                    tune.kind, i, cardinality(sets), f + 1, nfolds, metric_name,
                    round((ev->>metric_name)::numeric, 4),
                    round(extract(epoch FROM clock_timestamp() - t0)::numeric, 2);
            END IF;
        END LOOP;
        t1 := clock_timestamp();
        r_opts := r_opts || cand;
        r_mean := r_mean || (SELECT avg(s) FROM unnest(scores) s);
        r_spread := r_spread || (SELECT stddev_samp(s) FROM unnest(scores) s);
        r_seconds := r_seconds || extract(epoch FROM t1 - t0)::float8;
    END LOOP;

    SELECT r_opts[i] INTO best FROM generate_series(1, cardinality(r_opts)) i
    ORDER BY CASE WHEN lower_better THEN r_mean[i] ELSE -r_mean[i] END NULLS LAST, i LIMIT 1;
    IF save_as IS NOT NULL THEN
        t0 := clock_timestamp();
        train_sql := format('SELECT %s FROM %s', agg, rows_from);
        PERFORM pg_catalog.set_config('search_path', caller_path, true);
        EXECUTE train_sql INTO m USING best;
        ver := ecml.save_version(save_as, m,
                   jsonb_build_object('training_options', best,
                                      'training_seconds', extract(epoch FROM clock_timestamp() - t0))
                   OPERATOR(pg_catalog.||) (opts OPERATOR(pg_catalog.-) ARRAY['folds', 'validation_fraction', 'search', 'trials', 'seed', 'base', 'save_as', 'materialize']));
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
        IF progress THEN
            RAISE NOTICE 'ecml.tune(%): the best options saved as "%" version %', tune.kind, save_as, ver;
        END IF;
    END IF;

    IF materialize THEN
        EXECUTE format('DROP TABLE %s', split_part(rows_from, ' ', 1));
    END IF;
    RETURN QUERY
    SELECT (row_number() OVER (ORDER BY CASE WHEN lower_better THEN r_mean[i] ELSE -r_mean[i] END NULLS LAST, i))::int,
           r_opts[i], metric_name, r_mean[i], r_spread[i], nfolds, r_seconds[i]
    FROM generate_series(1, cardinality(r_opts)) i
    ORDER BY 1;
    PERFORM pg_catalog.set_config('search_path', caller_path, true);
END
$$;
COMMENT ON FUNCTION ecml.tune(text, text, jsonb, jsonb) IS
    'Tunes a logreg, gbdt or mf model: k-fold cross-validation (or one validation split) of every option set of grid ({"option": [values], ...}), or of a random sample of it, over the rows of source. Returns one row per option set, best first: the mean and spread (sample standard deviation) of the held-out metric over the folds, and the seconds taken. options: folds (5), validation_fraction, search ("grid" or "random"), trials, seed, metric, base (options common to all sets), save_as (train the best set on all rows and save it with ecml.save_version(), with promote and tolerance), materialize (run the source once into a temporary table that every fold reads; default true unless the transaction is read-only). Respects cancel and statement_timeout; ecml.progress reports each fold.';
