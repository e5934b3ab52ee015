-- ecml 0.1.0 install script: assembled from sql/ecml/*.sql in name order.
-- Core: version, BLIS information, the model container and the registry.

\echo Use "CREATE EXTENSION ecml" to load this file. \quit

-- ecml's functions are called by their schema-qualified names, and an
-- object made in schema ecml before ecml was installed (an overload taking
-- text, say) could capture such calls.  So the schema must be empty here:
-- new, or restored by pg_restore (which creates it just before this).
DO $$
DECLARE
    ns oid := pg_catalog.to_regnamespace('ecml');
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_class WHERE relnamespace OPERATOR(pg_catalog.=) ns)
       OR EXISTS (SELECT FROM pg_catalog.pg_proc WHERE pronamespace OPERATOR(pg_catalog.=) ns)
       OR EXISTS (SELECT FROM pg_catalog.pg_type WHERE typnamespace OPERATOR(pg_catalog.=) ns)
       OR EXISTS (SELECT FROM pg_catalog.pg_operator WHERE oprnamespace OPERATOR(pg_catalog.=) ns)
       OR EXISTS (SELECT FROM pg_catalog.pg_collation WHERE collnamespace OPERATOR(pg_catalog.=) ns)
       OR EXISTS (SELECT FROM pg_catalog.pg_conversion WHERE connamespace OPERATOR(pg_catalog.=) ns)
       OR EXISTS (SELECT FROM pg_catalog.pg_opfamily WHERE opfnamespace OPERATOR(pg_catalog.=) ns)
       OR EXISTS (SELECT FROM pg_catalog.pg_ts_config WHERE cfgnamespace OPERATOR(pg_catalog.=) ns)
       OR EXISTS (SELECT FROM pg_catalog.pg_ts_dict WHERE dictnamespace OPERATOR(pg_catalog.=) ns)
       OR EXISTS (SELECT FROM pg_catalog.pg_statistic_ext WHERE stxnamespace OPERATOR(pg_catalog.=) ns) THEN
        RAISE EXCEPTION 'schema "ecml" already exists and is not empty'
            USING ERRCODE = 'duplicate_schema',
                  HINT = 'ecml must be installed into a schema of its own: drop or rename the existing schema "ecml" first.';
    END IF;
END
$$;

CREATE FUNCTION ecml.version() RETURNS text
    AS 'MODULE_PATHNAME', 'ecml_version'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.version() IS
    'Version of the loaded ecml library.';

CREATE FUNCTION ecml.blas_info() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'ecml_blas_info'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.blas_info() IS
    'The BLIS library in use: version, kernel set (arch), threading model and thread count (GUC ecml.blas_threads).';

CREATE FUNCTION ecml.model_info(model bytea) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'ecml_model_info'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.model_info(bytea) IS
    'Validates an ecml model (magic, version, kind, sizes, CRC32C) and describes it: kind, format version, size, rows used and skipped, creation time, shape, hyper-parameters, training metrics and sections.';

-- The registry.  Models are rows, so backups, replication and permissions
-- apply to them like to any other row.
CREATE TABLE ecml.models (
    name        text PRIMARY KEY,
    kind        text NOT NULL,
    model       bytea NOT NULL,
    trained_at  timestamptz NOT NULL,
    rows        bigint NOT NULL,
    metrics     jsonb,
    -- a regrole, not a name: it follows a renamed role, and a role made
    -- later under a dropped owner's name does not inherit its models
    owner       regrole NOT NULL
                DEFAULT pg_catalog.quote_ident(CURRENT_USER)::pg_catalog.regrole
);
-- float weights do not compress; uncompressed TOAST keeps loading cheap
ALTER TABLE ecml.models ALTER COLUMN model SET STORAGE EXTERNAL;
COMMENT ON TABLE ecml.models IS
    'Registry of trained ecml models by name; kept by pg_dump. Write it with ecml.save_model(), read it with ecml.model(). Row security: a role sees and changes only the models whose owner role it has the privileges of.';
COMMENT ON COLUMN ecml.models.owner IS
    'The role the model belongs to: its members may read, replace and delete it (given the table privileges to do so).';
SELECT pg_catalog.pg_extension_config_dump('ecml.models', '');
-- Nobody else may read or write the registry until granted (README,
-- "Security and privileges").  Installed as a trusted extension by a
-- database owner, the table still belongs to the bootstrap superuser: the
-- installing role gets the rights to manage it and to grant them on.
GRANT SELECT, INSERT, UPDATE, DELETE ON ecml.models TO @extowner@ WITH GRANT OPTION;
-- The table privileges say what a role may do with models, the owner
-- column which models: those of roles whose privileges it has (the owner
-- itself and its members, as pg_has_role's USAGE says).  The same check on
-- new rows keeps a role from saving a model as, or handing one to, a role
-- it does not belong to.  Superusers and the table's owner bypass it.
ALTER TABLE ecml.models ENABLE ROW LEVEL SECURITY;
CREATE POLICY models_owner ON ecml.models
    USING (pg_catalog.pg_has_role(CURRENT_USER, owner, 'USAGE'))
    WITH CHECK (pg_catalog.pg_has_role(CURRENT_USER, owner, 'USAGE'));

CREATE FUNCTION ecml.save_model(name text, model bytea) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    info jsonb;
BEGIN
    IF name IS NULL OR model IS NULL THEN
        RAISE EXCEPTION 'ecml.save_model: name and model must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- kind, rows and created_at come from the validated header
    info := ecml.model_info(model);
    INSERT INTO ecml.models AS m (name, kind, model, trained_at, rows, metrics, owner)
    VALUES (save_model.name, info->>'kind', save_model.model,
            (info->>'created_at')::timestamptz, (info->>'rows')::bigint,
            info->'metrics', quote_ident(CURRENT_USER)::regrole)
    ON CONFLICT ON CONSTRAINT models_pkey DO UPDATE
        SET kind = EXCLUDED.kind, model = EXCLUDED.model,
            trained_at = EXCLUDED.trained_at, rows = EXCLUDED.rows,
            metrics = EXCLUDED.metrics;
END
$$;
COMMENT ON FUNCTION ecml.save_model(text, bytea) IS
    'Validates a model and stores it in ecml.models under name, replacing any model of that name. A new model belongs to the current role, a replaced one keeps its owner; row security refuses to replace a model whose owner role the caller does not belong to.';

CREATE FUNCTION ecml.model(name text) RETURNS bytea
    AS 'MODULE_PATHNAME', 'ecml_model_lookup'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.model(text) IS
    'The model stored in ecml.models under name, as the caller''s snapshot and row security see it; an error if there is none. Read once per query and snapshot, not once per row.';
-- Purchase probability: logistic regression.

CREATE FUNCTION ecml.logreg_train_transfn(internal, real[], boolean, jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'logreg_train_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.logreg_train_transfn(internal, real[], boolean, jsonb) IS
    'Support function of ecml.logreg_train: buffers one row.';
CREATE FUNCTION ecml.logreg_train_transfn(internal, real[], boolean)
    RETURNS internal AS 'MODULE_PATHNAME', 'logreg_train_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.logreg_train_transfn(internal, real[], boolean) IS
    'Support function of ecml.logreg_train: buffers one row.';
CREATE FUNCTION ecml.logreg_train_combinefn(internal, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'logreg_train_combinefn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.logreg_train_combinefn(internal, internal) IS
    'Support function of ecml.logreg_train: merges partial states of parallel workers.';
CREATE FUNCTION ecml.logreg_train_serialfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'logreg_train_serialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.logreg_train_serialfn(internal) IS
    'Support function of ecml.logreg_train: serializes a partial state.';
CREATE FUNCTION ecml.logreg_train_deserialfn(bytea, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'logreg_train_deserialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.logreg_train_deserialfn(bytea, internal) IS
    'Support function of ecml.logreg_train: deserializes a partial state.';
CREATE FUNCTION ecml.logreg_train_finalfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'logreg_train_finalfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.logreg_train_finalfn(internal) IS
    'Support function of ecml.logreg_train: fits the buffered rows and returns the model.';

CREATE AGGREGATE ecml.logreg_train(features real[], label boolean, options jsonb) (
    SFUNC = ecml.logreg_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.logreg_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.logreg_train_combinefn,
    SERIALFUNC = ecml.logreg_train_serialfn,
    DESERIALFUNC = ecml.logreg_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.logreg_train(real[], boolean, jsonb) IS
    'Trains a logistic regression (purchase probability) on feature vectors and boolean labels. Options: l2 (1e-4; 1/(C*n) matches scikit-learn C), l1 (0; OWL-QN), fit_intercept (true), standardize (true), class_weight ("balanced" or the positive-class weight, 1), max_iter (100), tol (1e-6, max gradient), solver ("auto", "newton", "lbfgs"), feature_names (text array). Rows with a NULL feature vector or label are skipped and counted.';

CREATE AGGREGATE ecml.logreg_train(features real[], label boolean) (
    SFUNC = ecml.logreg_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.logreg_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.logreg_train_combinefn,
    SERIALFUNC = ecml.logreg_train_serialfn,
    DESERIALFUNC = ecml.logreg_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.logreg_train(real[], boolean) IS
    'Trains a logistic regression (purchase probability) with default options; see the three-argument form.';

CREATE FUNCTION ecml.logreg_predict(model bytea, features real[])
    RETURNS double precision AS 'MODULE_PATHNAME', 'logreg_predict'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.logreg_predict(bytea, real[]) IS
    'Probability of the positive class (purchase) for one feature vector, in [0, 1]. The model is parsed once per query, not per row.';

CREATE FUNCTION ecml.logreg_coefficients(model bytea,
    OUT feature text, OUT coefficient double precision,
    OUT std_error double precision, OUT z double precision,
    OUT p_value double precision, OUT odds_ratio double precision)
    RETURNS SETOF record AS 'MODULE_PATHNAME', 'logreg_coefficients'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 20;
COMMENT ON FUNCTION ecml.logreg_coefficients(bytea) IS
    'Coefficients of a logistic regression in the features'' original units, intercept first, with standard errors from the inverse Hessian at the optimum, Wald z, two-sided p-value and odds ratio (NULL where unavailable: l1 penalty, singular Hessian, more than 2000 features).';

-- The pass aggregate of ecml.train('logreg', ...): one Newton or L-BFGS
-- pass over the rows, with a small mergeable bytea state (no rows), so
-- that parallel workers and Citus workers aggregate side by side.
CREATE FUNCTION ecml.logreg_pass_transfn(state bytea, features real[], label boolean, params double precision[])
    RETURNS bytea AS 'MODULE_PATHNAME', 'logreg_pass_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.logreg_pass_transfn(bytea, real[], boolean, double precision[]) IS
    'Support function of ecml.logreg_pass: adds one row to the pass''s sums.';
CREATE FUNCTION ecml.logreg_pass_combinefn(state bytea, other bytea)
    RETURNS bytea AS 'MODULE_PATHNAME', 'logreg_pass_combinefn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.logreg_pass_combinefn(bytea, bytea) IS
    'Support function of ecml.logreg_pass: adds up two partial states.';
CREATE AGGREGATE ecml.logreg_pass(features real[], label boolean, params double precision[]) (
    SFUNC = ecml.logreg_pass_transfn,
    STYPE = bytea,
    COMBINEFUNC = ecml.logreg_pass_combinefn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.logreg_pass(real[], boolean, double precision[]) IS
    'One pass of ecml.train(''logreg'', ...) over the rows: counts and feature moments, or the loss, gradient and Hessian at the parameters in params. Called by ecml.train; its state is sums, never rows.';
-- Recommendations: matrix factorization (implicit weighted ALS with a
-- conjugate-gradient or Cholesky solver; explicit biased ALS for ratings).

CREATE FUNCTION ecml.mf_train_transfn(internal, bigint, bigint, real, jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'mf_train_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.mf_train_transfn(internal, bigint, bigint, real, jsonb) IS
    'Support function of ecml.mf_train: buffers one interaction.';
CREATE FUNCTION ecml.mf_train_transfn(internal, bigint, bigint, real)
    RETURNS internal AS 'MODULE_PATHNAME', 'mf_train_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.mf_train_transfn(internal, bigint, bigint, real) IS
    'Support function of ecml.mf_train: buffers one interaction.';
CREATE FUNCTION ecml.mf_train_combinefn(internal, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'mf_train_combinefn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.mf_train_combinefn(internal, internal) IS
    'Support function of ecml.mf_train: merges partial states of parallel workers.';
CREATE FUNCTION ecml.mf_train_serialfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'mf_train_serialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.mf_train_serialfn(internal) IS
    'Support function of ecml.mf_train: serializes a partial state.';
CREATE FUNCTION ecml.mf_train_deserialfn(bytea, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'mf_train_deserialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.mf_train_deserialfn(bytea, internal) IS
    'Support function of ecml.mf_train: deserializes a partial state.';
CREATE FUNCTION ecml.mf_train_finalfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'mf_train_finalfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.mf_train_finalfn(internal) IS
    'Support function of ecml.mf_train: factorizes the buffered interactions and returns the model.';

CREATE AGGREGATE ecml.mf_train(user_id bigint, item_id bigint, value real, options jsonb) (
    SFUNC = ecml.mf_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.mf_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.mf_train_combinefn,
    SERIALFUNC = ecml.mf_train_serialfn,
    DESERIALFUNC = ecml.mf_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.mf_train(bigint, bigint, real, jsonb) IS
    'Trains a matrix factorization on (user, item, value) interactions; duplicate pairs add up; ids are any bigints. Options: factors (64), iterations (15), regularization (0.1), implicit (true: weighted ALS with confidence 1 + alpha*value, Hu et al. 2008; false: biased ALS on ratings), alpha (1), solver ("cg" with cg_steps (3), or "cholesky"), biases (true, explicit mode), seed (42), store_interactions (true, needed to exclude seen items). Rows with a NULL are skipped and counted.';

CREATE AGGREGATE ecml.mf_train(user_id bigint, item_id bigint, value real) (
    SFUNC = ecml.mf_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.mf_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.mf_train_combinefn,
    SERIALFUNC = ecml.mf_train_serialfn,
    DESERIALFUNC = ecml.mf_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.mf_train(bigint, bigint, real) IS
    'Trains an implicit-feedback matrix factorization with default options; see the four-argument form.';

CREATE FUNCTION ecml.mf_recommend(model bytea, user_id bigint, k integer,
    exclude_seen boolean DEFAULT true)
    RETURNS TABLE (item_id bigint, score real)
    AS 'MODULE_PATHNAME', 'mf_recommend'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION ecml.mf_recommend(bytea, bigint, integer, boolean) IS
    'The k items of highest score for a user, best first (ties by smaller item id), leaving out the items of the user''s training interactions unless exclude_seen is false. An unknown user gives no rows (and a NOTICE pointing to ecml.mf_fold_in); k larger than the item count returns every item.';

CREATE FUNCTION ecml.mf_recommend_all(model bytea, k integer,
    exclude_seen boolean DEFAULT true)
    RETURNS TABLE (user_id bigint, item_id bigint, rank integer, score real)
    AS 'MODULE_PATHNAME', 'mf_recommend_all'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 100000;
COMMENT ON FUNCTION ecml.mf_recommend_all(bytea, integer, boolean) IS
    'The top k items of every user in the model (rank 1 = best), for batch jobs: scores come from sgemm over blocks of users and items with a bounded heap per user, never a users x items matrix.';

CREATE FUNCTION ecml.mf_similar_items(model bytea, item_id bigint, k integer)
    RETURNS TABLE (item_id bigint, score real)
    AS 'MODULE_PATHNAME', 'mf_similar_items'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION ecml.mf_similar_items(bytea, bigint, integer) IS
    'The k items whose factor vectors have the highest cosine similarity to the item''s, itself excluded; no rows for an unknown item.';

CREATE FUNCTION ecml.mf_predict(model bytea, user_id bigint, item_id bigint)
    RETURNS real AS 'MODULE_PATHNAME', 'mf_predict'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.mf_predict(bytea, bigint, bigint) IS
    'Predicted score of a (user, item) pair: the factor dot product (implicit: a preference near 0..1), plus global mean and biases for an explicit model (a predicted rating). NULL when the user or the item is not in the model.';

CREATE FUNCTION ecml.mf_fold_in(model bytea, item_ids bigint[], "values" real[])
    RETURNS real[] AS 'MODULE_PATHNAME', 'mf_fold_in'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.mf_fold_in(bytea, bigint[], real[]) IS
    'A user vector from a few events (item ids and values, as in training) against the model''s fixed item factors: one least-squares solve, no retraining. Factors, then the user bias for an explicit model with biases. Unknown items are ignored; NULL when none is known.';

CREATE FUNCTION ecml.mf_recommend_vector(model bytea, user_vector real[], k integer,
    exclude bigint[] DEFAULT '{}')
    RETURNS TABLE (item_id bigint, score real)
    AS 'MODULE_PATHNAME', 'mf_recommend_vector'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION ecml.mf_recommend_vector(bytea, real[], integer, bigint[]) IS
    'The k items of highest score for a user vector (from ecml.mf_fold_in), best first, leaving out the item ids in exclude.';

CREATE FUNCTION ecml.mf_user_factors(model bytea)
    RETURNS TABLE (id bigint, factors real[], bias real)
    AS 'MODULE_PATHNAME', 'mf_user_factors'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION ecml.mf_user_factors(bytea) IS
    'Every user id of the model with its factor vector and bias (NULL without biases), ids ascending.';

CREATE FUNCTION ecml.mf_item_factors(model bytea)
    RETURNS TABLE (id bigint, factors real[], bias real)
    AS 'MODULE_PATHNAME', 'mf_item_factors'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION ecml.mf_item_factors(bytea) IS
    'Every item id of the model with its factor vector (an embedding for similarity search) and bias (NULL without biases), ids ascending.';
-- Ranking metrics over arrays, and the RMSE aggregate for ratings.

CREATE FUNCTION ecml.precision_at_k(recommended bigint[], relevant bigint[], k integer)
    RETURNS double precision AS 'MODULE_PATHNAME', 'ecml_precision_at_k'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.precision_at_k(bigint[], bigint[], integer) IS
    'Distinct relevant ids among the first k recommended, divided by k (a list shorter than k counts its missing places as misses).';

CREATE FUNCTION ecml.recall_at_k(recommended bigint[], relevant bigint[], k integer)
    RETURNS double precision AS 'MODULE_PATHNAME', 'ecml_recall_at_k'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.recall_at_k(bigint[], bigint[], integer) IS
    'Distinct relevant ids among the first k recommended, divided by the number of distinct relevant ids; NULL when relevant is empty.';

CREATE FUNCTION ecml.ndcg_at_k(recommended bigint[], relevant bigint[], k integer)
    RETURNS double precision AS 'MODULE_PATHNAME', 'ecml_ndcg_at_k'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.ndcg_at_k(bigint[], bigint[], integer) IS
    'Normalized discounted cumulative gain of the first k recommended with binary relevance: sum of 1/log2(rank+1) over hits, divided by its ideal value for min(k, |relevant|) hits; NULL when relevant is empty.';

CREATE FUNCTION ecml.hit_rate_at_k(recommended bigint[], relevant bigint[], k integer)
    RETURNS double precision AS 'MODULE_PATHNAME', 'ecml_hit_rate_at_k'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.hit_rate_at_k(bigint[], bigint[], integer) IS
    '1 when any relevant id is among the first k recommended, else 0; its average over users is the hit rate.';

CREATE FUNCTION ecml.rmse_transfn(double precision[], double precision, double precision)
    RETURNS double precision[] AS 'MODULE_PATHNAME', 'ecml_rmse_transfn'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.rmse_transfn(double precision[], double precision, double precision) IS
    'Support function of ecml.rmse: adds one squared error to the state {count, sum, compensation}.';
CREATE FUNCTION ecml.rmse_combinefn(double precision[], double precision[])
    RETURNS double precision[] AS 'MODULE_PATHNAME', 'ecml_rmse_combinefn'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.rmse_combinefn(double precision[], double precision[]) IS
    'Support function of ecml.rmse: adds two partial states.';
CREATE FUNCTION ecml.rmse_finalfn(double precision[])
    RETURNS double precision AS 'MODULE_PATHNAME', 'ecml_rmse_finalfn'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.rmse_finalfn(double precision[]) IS
    'Support function of ecml.rmse: the square root of the mean squared error, NULL without rows.';

CREATE AGGREGATE ecml.rmse(prediction double precision, actual double precision) (
    SFUNC = ecml.rmse_transfn,
    STYPE = double precision[],
    INITCOND = '{0,0,0}',
    FINALFUNC = ecml.rmse_finalfn,
    COMBINEFUNC = ecml.rmse_combinefn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.rmse(double precision, double precision) IS
    'Root mean squared error of predictions against actual values (compensated summation). Rows with a NULL are skipped; NULL when no rows are left; NaN or infinity is an error.';
-- Evaluation aggregates: ROC AUC, average precision and log loss, exact and
-- with ties treated as scikit-learn 1.2 does.

-- roc_auc and average_precision buffer the scores; they share one state
-- (and its support functions), so a query asking for both buffers once.
CREATE FUNCTION ecml.score_label_transfn(internal, double precision, boolean)
    RETURNS internal AS 'MODULE_PATHNAME', 'ecml_score_label_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.score_label_transfn(internal, double precision, boolean) IS
    'Support function of ecml.roc_auc and ecml.average_precision: buffers one (score, label) row.';
CREATE FUNCTION ecml.score_label_combinefn(internal, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'ecml_score_label_combinefn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.score_label_combinefn(internal, internal) IS
    'Support function of ecml.roc_auc and ecml.average_precision: merges sorted partial states of parallel workers.';
CREATE FUNCTION ecml.score_label_serialfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'ecml_score_label_serialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.score_label_serialfn(internal) IS
    'Support function of ecml.roc_auc and ecml.average_precision: sorts and serializes a partial state.';
CREATE FUNCTION ecml.score_label_deserialfn(bytea, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'ecml_score_label_deserialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.score_label_deserialfn(bytea, internal) IS
    'Support function of ecml.roc_auc and ecml.average_precision: deserializes a partial state.';
CREATE FUNCTION ecml.roc_auc_finalfn(internal)
    RETURNS double precision AS 'MODULE_PATHNAME', 'ecml_roc_auc_finalfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.roc_auc_finalfn(internal) IS
    'Support function of ecml.roc_auc: computes the area under the ROC curve from the buffered rows.';
CREATE FUNCTION ecml.average_precision_finalfn(internal)
    RETURNS double precision AS 'MODULE_PATHNAME', 'ecml_average_precision_finalfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.average_precision_finalfn(internal) IS
    'Support function of ecml.average_precision: computes the average precision from the buffered rows.';

CREATE AGGREGATE ecml.roc_auc(score double precision, label boolean) (
    SFUNC = ecml.score_label_transfn,
    STYPE = internal,
    FINALFUNC = ecml.roc_auc_finalfn,
    FINALFUNC_MODIFY = READ_ONLY,
    COMBINEFUNC = ecml.score_label_combinefn,
    SERIALFUNC = ecml.score_label_serialfn,
    DESERIALFUNC = ecml.score_label_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.roc_auc(double precision, boolean) IS
    'Area under the ROC curve of scores against boolean labels (true = positive class), exact: the fraction of (positive, negative) pairs the score ranks right, a tie counting one half; equals scikit-learn 1.2 roc_auc_score. Rows with a NULL score or label are skipped; NULL when no rows are left or only one class is present (where scikit-learn raises). A NaN score is an error; infinite scores rank as usual. Buffers 8 bytes per row, limited by ecml.train_memory_limit.';

CREATE AGGREGATE ecml.average_precision(score double precision, label boolean) (
    SFUNC = ecml.score_label_transfn,
    STYPE = internal,
    FINALFUNC = ecml.average_precision_finalfn,
    FINALFUNC_MODIFY = READ_ONLY,
    COMBINEFUNC = ecml.score_label_combinefn,
    SERIALFUNC = ecml.score_label_serialfn,
    DESERIALFUNC = ecml.score_label_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.average_precision(double precision, boolean) IS
    'Average precision of scores against boolean labels (true = positive class): the sum over distinct score thresholds, highest first, of (recall gained) x (precision at that threshold), rows with equal scores forming one threshold, without interpolation; equals scikit-learn 1.2 average_precision_score. Rows with a NULL score or label are skipped; NULL when no rows or no positive rows are left (recall is undefined; scikit-learn warns and returns 0), 1 when all rows are positive. A NaN score is an error; infinite scores rank as usual. Buffers 8 bytes per row, limited by ecml.train_memory_limit.';

-- log_loss needs only a count and a sum: a float8[] state that any parallel
-- or distributed plan can carry.
CREATE FUNCTION ecml.log_loss_transfn(double precision[], double precision, boolean)
    RETURNS double precision[] AS 'MODULE_PATHNAME', 'ecml_log_loss_transfn'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.log_loss_transfn(double precision[], double precision, boolean) IS
    'Support function of ecml.log_loss: adds one row''s cross-entropy to the state {count, sum, compensation}.';
CREATE FUNCTION ecml.log_loss_combinefn(double precision[], double precision[])
    RETURNS double precision[] AS 'MODULE_PATHNAME', 'ecml_log_loss_combinefn'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.log_loss_combinefn(double precision[], double precision[]) IS
    'Support function of ecml.log_loss: adds two partial states.';
CREATE FUNCTION ecml.log_loss_finalfn(double precision[])
    RETURNS double precision AS 'MODULE_PATHNAME', 'ecml_log_loss_finalfn'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.log_loss_finalfn(double precision[]) IS
    'Support function of ecml.log_loss: the mean cross-entropy, NULL without rows.';

CREATE AGGREGATE ecml.log_loss(probability double precision, label boolean) (
    SFUNC = ecml.log_loss_transfn,
    STYPE = double precision[],
    INITCOND = '{0,0,0}',
    FINALFUNC = ecml.log_loss_finalfn,
    COMBINEFUNC = ecml.log_loss_combinefn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.log_loss(double precision, boolean) IS
    'Mean cross-entropy (natural log) of predicted probabilities of the positive class against boolean labels, probabilities clipped to [eps, 1 - eps] with eps = 2.220446049250313e-16 (float64 machine epsilon); equals scikit-learn 1.2 log_loss(eps="auto"). Rows with a NULL probability or label are skipped; NULL when no rows are left. A probability outside [0, 1] or NaN is an error.';
-- The hashing trick: categorical tokens to a fixed-length feature vector.

CREATE FUNCTION ecml.hash_features(tokens text[], n integer)
    RETURNS real[] AS 'MODULE_PATHNAME', 'ecml_hash_features'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.hash_features(text[], integer) IS
    'Signed hashing trick: a real[] of n columns (1 to 16777216) where each token adds +1 or -1 at column |h| mod n, h being the signed 32-bit MurmurHash3 (x86, seed 0) of the token''s UTF-8 bytes and its sign giving the sign; identical to scikit-learn FeatureHasher(n_features=n, input_type="string", alternate_sign=True) on one sample. Repeated tokens add up; NULL elements are missing categories and add nothing; an empty array gives n zeros. Tokens must be a one-dimensional array.';
-- Embedding similarity: distances and operators on real[].
-- Operators live in schema ecml: write OPERATOR(ecml.<=>), or put ecml on
-- the search_path (SET search_path = public, ecml) and write a <=> b.

CREATE FUNCTION ecml.l2_distance(a real[], b real[]) RETURNS double precision
    AS 'MODULE_PATHNAME', 'ecml_l2_distance'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.l2_distance(real[], real[]) IS
    'Euclidean (L2) distance |a - b| between two vectors of the same length (operator <->). NULL elements, NaN, infinity, empty vectors or different lengths are errors.';

CREATE FUNCTION ecml.inner_product(a real[], b real[]) RETURNS double precision
    AS 'MODULE_PATHNAME', 'ecml_inner_product'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.inner_product(real[], real[]) IS
    'Inner (dot) product a . b of two vectors of the same length; operator <#> is its negative, so that smaller is closer.';

CREATE FUNCTION ecml.negative_inner_product(a real[], b real[]) RETURNS double precision
    AS 'MODULE_PATHNAME', 'ecml_negative_inner_product'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.negative_inner_product(real[], real[]) IS
    'Negative inner product -(a . b) (operator <#>): ascending order puts the largest inner product first.';

CREATE FUNCTION ecml.cosine_distance(a real[], b real[]) RETURNS double precision
    AS 'MODULE_PATHNAME', 'ecml_cosine_distance'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.cosine_distance(real[], real[]) IS
    'Cosine distance 1 - a.b / (|a| |b|), in [0, 2] (operator <=>). NaN when either vector is all zeros (the angle is undefined; NaN sorts after every distance).';

CREATE FUNCTION ecml.l2_normalize(v real[]) RETURNS real[]
    AS 'MODULE_PATHNAME', 'ecml_l2_normalize'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.l2_normalize(real[]) IS
    'v / |v|, the unit vector in the direction of v; a vector of zeros is returned unchanged.';

-- Each distance is symmetric, so each operator is its own commutator (an
-- index operator class, and the planner, may swap the operands).
CREATE OPERATOR ecml.<-> (
    LEFTARG = real[], RIGHTARG = real[],
    FUNCTION = ecml.l2_distance,
    COMMUTATOR = OPERATOR(ecml.<->)
);
COMMENT ON OPERATOR ecml.<-> (real[], real[]) IS
    'Euclidean (L2) distance, ecml.l2_distance.';

CREATE OPERATOR ecml.<#> (
    LEFTARG = real[], RIGHTARG = real[],
    FUNCTION = ecml.negative_inner_product,
    COMMUTATOR = OPERATOR(ecml.<#>)
);
COMMENT ON OPERATOR ecml.<#> (real[], real[]) IS
    'Negative inner product, ecml.negative_inner_product: smaller is more similar.';

CREATE OPERATOR ecml.<=> (
    LEFTARG = real[], RIGHTARG = real[],
    FUNCTION = ecml.cosine_distance,
    COMMUTATOR = OPERATOR(ecml.<=>)
);
COMMENT ON OPERATOR ecml.<=> (real[], real[]) IS
    'Cosine distance, ecml.cosine_distance.';
-- Embedding similarity: packed exact top-k search.

CREATE FUNCTION ecml.pack_vectors_transfn(internal, bigint, real[], jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'vectors_pack_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.pack_vectors_transfn(internal, bigint, real[], jsonb) IS
    'Support function of ecml.pack_vectors: buffers one row.';
CREATE FUNCTION ecml.pack_vectors_transfn(internal, bigint, real[])
    RETURNS internal AS 'MODULE_PATHNAME', 'vectors_pack_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.pack_vectors_transfn(internal, bigint, real[]) IS
    'Support function of ecml.pack_vectors: buffers one row.';
CREATE FUNCTION ecml.pack_vectors_combinefn(internal, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'vectors_pack_combinefn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.pack_vectors_combinefn(internal, internal) IS
    'Support function of ecml.pack_vectors: merges partial states of parallel workers.';
CREATE FUNCTION ecml.pack_vectors_serialfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'vectors_pack_serialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.pack_vectors_serialfn(internal) IS
    'Support function of ecml.pack_vectors: serializes a partial state.';
CREATE FUNCTION ecml.pack_vectors_deserialfn(bytea, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'vectors_pack_deserialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.pack_vectors_deserialfn(bytea, internal) IS
    'Support function of ecml.pack_vectors: deserializes a partial state.';
CREATE FUNCTION ecml.pack_vectors_finalfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'vectors_pack_finalfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.pack_vectors_finalfn(internal) IS
    'Support function of ecml.pack_vectors: sorts the rows by id and writes the pack.';

CREATE AGGREGATE ecml.pack_vectors(id bigint, embedding real[], options jsonb) (
    SFUNC = ecml.pack_vectors_transfn,
    STYPE = internal,
    FINALFUNC = ecml.pack_vectors_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.pack_vectors_combinefn,
    SERIALFUNC = ecml.pack_vectors_serialfn,
    DESERIALFUNC = ecml.pack_vectors_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.pack_vectors(bigint, real[], jsonb) IS
    'Packs (id, embedding) rows into an ecml model of kind vectors for ecml.search: ids ascending and one contiguous float32 matrix. Options: metric ("cosine" (default; rows stored normalized), "inner_product", "l2"). Rows with a NULL id or embedding are skipped and counted; a duplicate id, embeddings of different lengths, NULL elements, NaN or infinity are errors.';

CREATE AGGREGATE ecml.pack_vectors(id bigint, embedding real[]) (
    SFUNC = ecml.pack_vectors_transfn,
    STYPE = internal,
    FINALFUNC = ecml.pack_vectors_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.pack_vectors_combinefn,
    SERIALFUNC = ecml.pack_vectors_serialfn,
    DESERIALFUNC = ecml.pack_vectors_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.pack_vectors(bigint, real[]) IS
    'Packs (id, embedding) rows for ecml.search with the cosine metric; see the three-argument form.';

CREATE FUNCTION ecml.search(packed bytea, query real[], k integer)
    RETURNS TABLE (id bigint, distance real)
    AS 'MODULE_PATHNAME', 'vectors_search'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION ecml.search(bytea, real[], integer) IS
    'The k rows of a pack nearest to query, best first (distance ascending, ties by id), by the pack''s metric: cosine distance (as <=>), negative inner product (as <#>) or L2 distance (as <->). Exact; k above the pack size returns every row. The pack is decoded once per backend.';

CREATE FUNCTION ecml.search(packed bytea, query real[], k integer, filter_ids bigint[])
    RETURNS TABLE (id bigint, distance real)
    AS 'MODULE_PATHNAME', 'vectors_search'
    LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION ecml.search(bytea, real[], integer, bigint[]) IS
    'The k rows nearest to query among the ids in filter_ids (ids absent from the pack are ignored; a NULL filter_ids means no filter, an empty one returns nothing), best first, ties by id.';

CREATE FUNCTION ecml.search_batch(packed bytea, queries real[], k integer)
    RETURNS TABLE (query_index integer, id bigint, rank integer, distance real)
    AS 'MODULE_PATHNAME', 'vectors_search_batch'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION ecml.search_batch(bytea, real[], integer) IS
    'The k nearest rows of a pack for every query, one query per row of the two-dimensional array queries (query_index counts from 1), rank 1 best; the same rows and distances as ecml.search of each query, computed with sgemm blocks.';
-- Fraud scoring: gradient-boosted decision trees.

CREATE FUNCTION ecml.fraud_train_transfn(internal, real[], boolean, jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'gbdt_train_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.fraud_train_transfn(internal, real[], boolean, jsonb) IS
    'Support function of ecml.fraud_train: buffers one row.';
CREATE FUNCTION ecml.fraud_train_transfn(internal, real[], boolean)
    RETURNS internal AS 'MODULE_PATHNAME', 'gbdt_train_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.fraud_train_transfn(internal, real[], boolean) IS
    'Support function of ecml.fraud_train: buffers one row.';
CREATE FUNCTION ecml.fraud_train_combinefn(internal, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'gbdt_train_combinefn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.fraud_train_combinefn(internal, internal) IS
    'Support function of ecml.fraud_train: merges partial states of parallel workers.';
CREATE FUNCTION ecml.fraud_train_serialfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'gbdt_train_serialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.fraud_train_serialfn(internal) IS
    'Support function of ecml.fraud_train: serializes a partial state.';
CREATE FUNCTION ecml.fraud_train_deserialfn(bytea, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'gbdt_train_deserialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.fraud_train_deserialfn(bytea, internal) IS
    'Support function of ecml.fraud_train: deserializes a partial state.';
CREATE FUNCTION ecml.fraud_train_finalfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'gbdt_train_finalfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.fraud_train_finalfn(internal) IS
    'Support function of ecml.fraud_train: boosts trees over the buffered rows and returns the model.';

CREATE AGGREGATE ecml.fraud_train(features real[], is_fraud boolean, options jsonb) (
    SFUNC = ecml.fraud_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.fraud_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.fraud_train_combinefn,
    SERIALFUNC = ecml.fraud_train_serialfn,
    DESERIALFUNC = ecml.fraud_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.fraud_train(real[], boolean, jsonb) IS
    'Trains gradient-boosted decision trees (histogram boosting, log loss) to score fraud. Options: n_trees (100), learning_rate (0.1), max_depth (6), max_leaves (0: no limit), max_bins (256, the missing-value bin included), min_child_weight (1), l2 (1), min_split_gain (0), subsample (1), colsample (1, per tree), scale_pos_weight (1) or class_weight ("none", "balanced"), validation_fraction (0), early_stopping_rounds (10, 0 = off), seed (0), feature_names. NaN and NULL elements are missing values; rows with a NULL feature vector or label are skipped and counted.';

CREATE AGGREGATE ecml.fraud_train(features real[], is_fraud boolean) (
    SFUNC = ecml.fraud_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.fraud_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.fraud_train_combinefn,
    SERIALFUNC = ecml.fraud_train_serialfn,
    DESERIALFUNC = ecml.fraud_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.fraud_train(real[], boolean) IS
    'Trains gradient-boosted decision trees for fraud scoring with default options; see the three-argument form.';

CREATE FUNCTION ecml.fraud_score(model bytea, features real[])
    RETURNS double precision AS 'MODULE_PATHNAME', 'gbdt_score'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.fraud_score(bytea, real[]) IS
    'Probability of fraud in [0, 1] from a model of ecml.fraud_train. NaN and NULL elements are missing values and follow each split''s learned default direction. The model is parsed once per query, not per row.';

CREATE FUNCTION ecml.fraud_explain(model bytea, features real[])
    RETURNS jsonb AS 'MODULE_PATHNAME', 'gbdt_explain'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.fraud_explain(bytea, real[]) IS
    'Explains a fraud score: {"base_value", "margin", "contributions": {feature: value}} with exact TreeSHAP contributions to the log-odds (Lundberg et al. 2018); base_value + sum of contributions = margin.';

CREATE FUNCTION ecml.fraud_explain(model bytea, features real[], top integer)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'gbdt_explain'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.fraud_explain(bytea, real[], integer) IS
    'Explains a fraud score keeping only the top contributions by absolute value; see the two-argument form.';

CREATE FUNCTION ecml.feature_importance(model bytea)
    RETURNS TABLE(feature text, gain double precision, splits integer)
    AS 'MODULE_PATHNAME', 'gbdt_feature_importance'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 30;
COMMENT ON FUNCTION ecml.feature_importance(bytea) IS
    'Feature importance of a fraud_train model: every feature with its total split gain (loss reduction) and number of splits, largest gain first.';
-- Anomaly scoring without labels: an isolation forest (Liu, Ting & Zhou 2008).

CREATE FUNCTION ecml.anomaly_train_transfn(internal, real[], jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'iforest_train_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.anomaly_train_transfn(internal, real[], jsonb) IS
    'Support function of ecml.anomaly_train: offers one row to the per-tree reservoir samples.';
CREATE FUNCTION ecml.anomaly_train_transfn(internal, real[])
    RETURNS internal AS 'MODULE_PATHNAME', 'iforest_train_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.anomaly_train_transfn(internal, real[]) IS
    'Support function of ecml.anomaly_train: offers one row to the per-tree reservoir samples.';
CREATE FUNCTION ecml.anomaly_train_combinefn(internal, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'iforest_train_combinefn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.anomaly_train_combinefn(internal, internal) IS
    'Support function of ecml.anomaly_train: merges the reservoir samples of parallel workers (smallest keys win).';
CREATE FUNCTION ecml.anomaly_train_serialfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'iforest_train_serialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.anomaly_train_serialfn(internal) IS
    'Support function of ecml.anomaly_train: serializes a partial state.';
CREATE FUNCTION ecml.anomaly_train_deserialfn(bytea, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'iforest_train_deserialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.anomaly_train_deserialfn(bytea, internal) IS
    'Support function of ecml.anomaly_train: deserializes a partial state.';
CREATE FUNCTION ecml.anomaly_train_finalfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'iforest_train_finalfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.anomaly_train_finalfn(internal) IS
    'Support function of ecml.anomaly_train: grows one isolation tree per sample and returns the model.';

CREATE AGGREGATE ecml.anomaly_train(features real[], options jsonb) (
    SFUNC = ecml.anomaly_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.anomaly_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.anomaly_train_combinefn,
    SERIALFUNC = ecml.anomaly_train_serialfn,
    DESERIALFUNC = ecml.anomaly_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.anomaly_train(real[], jsonb) IS
    'Trains an isolation forest (Liu, Ting & Zhou 2008) on feature vectors, without labels: each tree is grown on its own sample of sample_size rows drawn without replacement (reservoir sampling, so the state holds at most n_trees x sample_size rows). Options: n_trees (100, 1 to 10000), sample_size (256, 2 to 1000000), seed (0, 0 to 1e15), max_features (1.0, fraction of features per tree, (0, 1]). Rows with a NULL feature vector are skipped and counted; NULL elements, NaN, infinity or rows of different length are errors. Serial plans are deterministic for a given seed and row order.';

CREATE AGGREGATE ecml.anomaly_train(features real[]) (
    SFUNC = ecml.anomaly_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.anomaly_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.anomaly_train_combinefn,
    SERIALFUNC = ecml.anomaly_train_serialfn,
    DESERIALFUNC = ecml.anomaly_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.anomaly_train(real[]) IS
    'Trains an isolation forest with default options; see the two-argument form.';

CREATE FUNCTION ecml.anomaly_score(model bytea, features real[])
    RETURNS double precision AS 'MODULE_PATHNAME', 'iforest_score'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.anomaly_score(bytea, real[]) IS
    'Isolation forest anomaly score s = 2^(-E[h(x)] / c(sample_size)) in (0, 1]: near 1 an anomaly, 0.5 or less a normal row (the score of scikit-learn''s IsolationForest, which returns -s from score_samples). NULL elements, NaN or infinite features are errors, as is a vector of the wrong length. The model is parsed once per query, not per row.';
-- Deciding: precision/recall curves and the threshold that reaches a
-- precision, over the score/label state that roc_auc and average_precision
-- share (40_metrics.sql).

CREATE FUNCTION ecml.pr_curve_finalfn(internal)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ecml_pr_curve_finalfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.pr_curve_finalfn(internal) IS
    'Support function of ecml.pr_curve: the precision/recall curve of the buffered rows.';

CREATE AGGREGATE ecml.pr_curve(score double precision, label boolean) (
    SFUNC = ecml.score_label_transfn,
    STYPE = internal,
    FINALFUNC = ecml.pr_curve_finalfn,
    FINALFUNC_MODIFY = READ_ONLY,
    COMBINEFUNC = ecml.score_label_combinefn,
    SERIALFUNC = ecml.score_label_serialfn,
    DESERIALFUNC = ecml.score_label_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.pr_curve(double precision, boolean) IS
    'Precision/recall curve of scores against boolean labels (true = positive class) as a jsonb array of {"threshold", "precision", "recall", "tp", "fp"}, one element per distinct score, highest first; at threshold t the rows with score >= t are selected, precision = tp / (tp + fp), recall = tp / (all positives). Read it with jsonb_to_recordset. Rows with a NULL score or label are skipped; NULL when no rows are left; recall is null without positive rows. A NaN score is an error; an infinite threshold is the string "Infinity" or "-Infinity". Buffers 8 bytes per row (ecml.train_memory_limit); for many distinct scores use the max_points form.';

-- The forms with a constant third argument wrap the same state.
CREATE FUNCTION ecml.pr_curve_points_transfn(internal, double precision, boolean, integer)
    RETURNS internal AS 'MODULE_PATHNAME', 'ecml_pr_curve_points_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.pr_curve_points_transfn(internal, double precision, boolean, integer) IS
    'Support function of ecml.pr_curve(score, label, max_points): buffers one (score, label) row.';
CREATE FUNCTION ecml.threshold_for_precision_transfn(internal, double precision, boolean, double precision)
    RETURNS internal AS 'MODULE_PATHNAME', 'ecml_threshold_for_precision_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.threshold_for_precision_transfn(internal, double precision, boolean, double precision) IS
    'Support function of ecml.threshold_for_precision: buffers one (score, label) row.';
CREATE FUNCTION ecml.score_param_combinefn(internal, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'ecml_score_param_combinefn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.score_param_combinefn(internal, internal) IS
    'Support function of ecml.pr_curve(score, label, max_points) and ecml.threshold_for_precision: merges partial states of parallel workers.';
CREATE FUNCTION ecml.score_param_serialfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'ecml_score_param_serialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.score_param_serialfn(internal) IS
    'Support function of ecml.pr_curve(score, label, max_points) and ecml.threshold_for_precision: serializes a partial state.';
CREATE FUNCTION ecml.score_param_deserialfn(bytea, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'ecml_score_param_deserialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.score_param_deserialfn(bytea, internal) IS
    'Support function of ecml.pr_curve(score, label, max_points) and ecml.threshold_for_precision: deserializes a partial state.';
CREATE FUNCTION ecml.pr_curve_points_finalfn(internal)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'ecml_pr_curve_points_finalfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.pr_curve_points_finalfn(internal) IS
    'Support function of ecml.pr_curve(score, label, max_points): at most max_points points of the curve.';
CREATE FUNCTION ecml.threshold_for_precision_finalfn(internal)
    RETURNS double precision AS 'MODULE_PATHNAME', 'ecml_threshold_for_precision_finalfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.threshold_for_precision_finalfn(internal) IS
    'Support function of ecml.threshold_for_precision: the lowest threshold that reaches the target precision.';

CREATE AGGREGATE ecml.pr_curve(score double precision, label boolean, max_points integer) (
    SFUNC = ecml.pr_curve_points_transfn,
    STYPE = internal,
    FINALFUNC = ecml.pr_curve_points_finalfn,
    FINALFUNC_MODIFY = READ_ONLY,
    COMBINEFUNC = ecml.score_param_combinefn,
    SERIALFUNC = ecml.score_param_serialfn,
    DESERIALFUNC = ecml.score_param_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.pr_curve(double precision, boolean, integer) IS
    'Precision/recall curve with at most max_points points (2 to 100000000, the same in every row): the exact points whose rank (rows scored at least the threshold) first reaches each of max_points evenly spaced marks, highest threshold first; the lowest threshold (recall 1) is always included. Otherwise as ecml.pr_curve(score, label).';

CREATE AGGREGATE ecml.threshold_for_precision(score double precision, label boolean, target_precision double precision) (
    SFUNC = ecml.threshold_for_precision_transfn,
    STYPE = internal,
    FINALFUNC = ecml.threshold_for_precision_finalfn,
    FINALFUNC_MODIFY = READ_ONLY,
    COMBINEFUNC = ecml.score_param_combinefn,
    SERIALFUNC = ecml.score_param_serialfn,
    DESERIALFUNC = ecml.score_param_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.threshold_for_precision(double precision, boolean, double precision) IS
    'The lowest score threshold t whose precision (positives among the rows with score >= t) is at least target_precision, so that WHERE score >= t selects the most positives at that precision; t is one of the scores. target_precision must be in (0, 1] and the same in every row. NULL when no threshold reaches it or no rows are left. Rows with a NULL score or label are skipped; a NaN score is an error.';
-- Next-action prediction: an LSTM over token sequences.

CREATE FUNCTION ecml.lstm_train_transfn(internal, bigint[], jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'lstm_train_transfn_int8'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_train_transfn(internal, bigint[], jsonb) IS
    'Support function of ecml.lstm_train: buffers one sequence.';
CREATE FUNCTION ecml.lstm_train_transfn(internal, bigint[])
    RETURNS internal AS 'MODULE_PATHNAME', 'lstm_train_transfn_int8'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_train_transfn(internal, bigint[]) IS
    'Support function of ecml.lstm_train: buffers one sequence.';
CREATE FUNCTION ecml.lstm_train_transfn(internal, text[], jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'lstm_train_transfn_text'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_train_transfn(internal, text[], jsonb) IS
    'Support function of ecml.lstm_train: buffers one sequence.';
CREATE FUNCTION ecml.lstm_train_transfn(internal, text[])
    RETURNS internal AS 'MODULE_PATHNAME', 'lstm_train_transfn_text'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_train_transfn(internal, text[]) IS
    'Support function of ecml.lstm_train: buffers one sequence.';
CREATE FUNCTION ecml.lstm_train_combinefn(internal, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'lstm_train_combinefn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_train_combinefn(internal, internal) IS
    'Support function of ecml.lstm_train: merges partial states of parallel workers.';
CREATE FUNCTION ecml.lstm_train_serialfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'lstm_train_serialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_train_serialfn(internal) IS
    'Support function of ecml.lstm_train: serializes a partial state.';
CREATE FUNCTION ecml.lstm_train_deserialfn(bytea, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'lstm_train_deserialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_train_deserialfn(bytea, internal) IS
    'Support function of ecml.lstm_train: deserializes a partial state.';
CREATE FUNCTION ecml.lstm_train_finalfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'lstm_train_finalfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_train_finalfn(internal) IS
    'Support function of ecml.lstm_train: trains on the buffered sequences and returns the model.';

CREATE AGGREGATE ecml.lstm_train(sequence bigint[], options jsonb) (
    SFUNC = ecml.lstm_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.lstm_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.lstm_train_combinefn,
    SERIALFUNC = ecml.lstm_train_serialfn,
    DESERIALFUNC = ecml.lstm_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.lstm_train(bigint[], jsonb) IS
    'Trains an LSTM next-token model on sequences (one row per sequence, tokens in time order). Options: embedding_dim (64), hidden_size (128), layers (1), epochs (20), batch_size (64), learning_rate (5e-3, Adam), max_length (200), min_count (1), max_vocab (100000), clip_norm (5), validation_fraction (0), patience (3), seed (42), softmax ("auto", "full", "sampled"), softmax_threshold (20000), num_sampled (512), bptt (0 = whole sequence). NULL sequences and sequences of fewer than 2 tokens are skipped and counted.';
CREATE AGGREGATE ecml.lstm_train(sequence bigint[]) (
    SFUNC = ecml.lstm_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.lstm_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.lstm_train_combinefn,
    SERIALFUNC = ecml.lstm_train_serialfn,
    DESERIALFUNC = ecml.lstm_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.lstm_train(bigint[]) IS
    'Trains an LSTM next-token model on bigint sequences with default options; see the two-argument form.';
CREATE AGGREGATE ecml.lstm_train(sequence text[], options jsonb) (
    SFUNC = ecml.lstm_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.lstm_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.lstm_train_combinefn,
    SERIALFUNC = ecml.lstm_train_serialfn,
    DESERIALFUNC = ecml.lstm_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.lstm_train(text[], jsonb) IS
    'Trains an LSTM next-token model on text sequences (action types such as view, cart, purchase); the model keeps text tokens. Options as for the bigint[] form.';
CREATE AGGREGATE ecml.lstm_train(sequence text[]) (
    SFUNC = ecml.lstm_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.lstm_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.lstm_train_combinefn,
    SERIALFUNC = ecml.lstm_train_serialfn,
    DESERIALFUNC = ecml.lstm_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.lstm_train(text[]) IS
    'Trains an LSTM next-token model on text sequences with default options; see the two-argument form.';

CREATE FUNCTION ecml.lstm_predict(model bytea, sequence bigint[], k integer,
    exclude_seen boolean DEFAULT false)
    RETURNS TABLE(token bigint, probability real) AS 'MODULE_PATHNAME', 'lstm_predict'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION ecml.lstm_predict(bytea, bigint[], integer, boolean) IS
    'The k most likely next tokens after a sequence, with their probabilities, best first; exclude_seen leaves out tokens of the sequence. Unknown tokens read as the unknown token, which is never returned; an empty sequence scores from the initial state.';
CREATE FUNCTION ecml.lstm_predict(model bytea, sequence text[], k integer,
    exclude_seen boolean DEFAULT false)
    RETURNS TABLE(token text, probability real) AS 'MODULE_PATHNAME', 'lstm_predict'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION ecml.lstm_predict(bytea, text[], integer, boolean) IS
    'The k most likely next tokens after a text sequence, with their probabilities, best first; see the bigint[] form.';

CREATE FUNCTION ecml.lstm_next(model bytea, sequence bigint[]) RETURNS bigint
    AS 'MODULE_PATHNAME', 'lstm_next'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_next(bytea, bigint[]) IS
    'The most likely next token after a sequence (never the unknown token).';
CREATE FUNCTION ecml.lstm_next(model bytea, sequence text[]) RETURNS text
    AS 'MODULE_PATHNAME', 'lstm_next'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_next(bytea, text[]) IS
    'The most likely next token after a text sequence (never the unknown token).';

CREATE FUNCTION ecml.lstm_embed(model bytea, sequence bigint[]) RETURNS real[]
    AS 'MODULE_PATHNAME', 'lstm_embed'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_embed(bytea, bigint[]) IS
    'Session embedding: the top LSTM layer''s final hidden state after the sequence (hidden_size values; zeros for an empty sequence).';
CREATE FUNCTION ecml.lstm_embed(model bytea, sequence text[]) RETURNS real[]
    AS 'MODULE_PATHNAME', 'lstm_embed'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.lstm_embed(bytea, text[]) IS
    'Session embedding of a text sequence: the top LSTM layer''s final hidden state.';
-- Approximate nearest-neighbour search: the ecml_hnsw index access method
-- for real[] (a hierarchical navigable small world graph, Malkov & Yashunin).
--   CREATE INDEX ON products USING ecml_hnsw (embedding ecml.real_cosine_ops)
--       WITH (m = 16, ef_construction = 64);
--   SELECT id FROM products ORDER BY embedding OPERATOR(ecml.<=>) $1 LIMIT 10;

CREATE FUNCTION ecml.hnsw_handler(internal) RETURNS index_am_handler
    AS 'MODULE_PATHNAME', 'ecml_hnsw_handler'
    LANGUAGE C;
COMMENT ON FUNCTION ecml.hnsw_handler(internal) IS
    'Handler of the ecml_hnsw index access method (approximate nearest-neighbour search over real[]).';

CREATE ACCESS METHOD ecml_hnsw TYPE INDEX HANDLER ecml.hnsw_handler;
COMMENT ON ACCESS METHOD ecml_hnsw IS
    'HNSW graph index over real[] for ORDER BY embedding <op> query LIMIT k (operators <->, <#>, <=> of schema ecml).';

-- One operator class per distance: the ORDER BY operator, and the distance
-- function the index computes (support function 1).
CREATE OPERATOR CLASS ecml.real_l2_ops
    FOR TYPE real[] USING ecml_hnsw AS
    OPERATOR 1 ecml.<-> (real[], real[]) FOR ORDER BY float_ops,
    FUNCTION 1 ecml.l2_distance(real[], real[]);

CREATE OPERATOR CLASS ecml.real_ip_ops
    FOR TYPE real[] USING ecml_hnsw AS
    OPERATOR 1 ecml.<#> (real[], real[]) FOR ORDER BY float_ops,
    FUNCTION 1 ecml.negative_inner_product(real[], real[]);

CREATE OPERATOR CLASS ecml.real_cosine_ops
    FOR TYPE real[] USING ecml_hnsw AS
    OPERATOR 1 ecml.<=> (real[], real[]) FOR ORDER BY float_ops,
    FUNCTION 1 ecml.cosine_distance(real[], real[]);
-- Training in bounded memory: one aggregate query per pass over a source query.

CREATE FUNCTION ecml.train(kind text, source text, options jsonb DEFAULT '{}')
    RETURNS bytea AS 'MODULE_PATHNAME', 'ecml_train'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION ecml.train(text, text, jsonb) IS
    'Trains a model of the given kind (logreg) on the rows of source, a SELECT whose columns are the kind''s aggregate arguments in order, in passes whose memory is O(model), not O(rows): each pass is one aggregate query that parallel query and Citus push down. All passes read the calling statement''s snapshot. options: the kind''s training options, and save_as (a name: the model is also stored with ecml.save_model). Returns the model.';
-- Text: tokens through text search configurations, word vectors (trained or
-- loaded) and text embeddings, and a fastText-style text classifier.

CREATE FUNCTION ecml.tokenize(document text)
    RETURNS text[] AS 'MODULE_PATHNAME', 'ecml_tokenize'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.tokenize(text) IS
    'The lexemes of a document in document order, through the text search configuration default_text_search_config (as to_tsvector(document) makes them, but in order and with repeats).';
CREATE FUNCTION ecml.tokenize(document text, config regconfig, ngrams integer DEFAULT 1)
    RETURNS text[] AS 'MODULE_PATHNAME', 'ecml_tokenize'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.tokenize(text, regconfig, integer) IS
    'The lexemes of a document in document order through a text search configuration (english: stemmed, stop words removed; simple: lower-cased only). ngrams > 1 (up to 5) appends every run of 2..ngrams consecutive lexemes joined by a space. An empty document or one of stop words only gives an empty array.';

-- word vectors: training
CREATE FUNCTION ecml.word2vec_train_transfn(internal, text[], jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'word2vec_train_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word2vec_train_transfn(internal, text[], jsonb) IS
    'Support function of ecml.word2vec_train: buffers one document.';
CREATE FUNCTION ecml.word2vec_train_transfn(internal, text[])
    RETURNS internal AS 'MODULE_PATHNAME', 'word2vec_train_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word2vec_train_transfn(internal, text[]) IS
    'Support function of ecml.word2vec_train: buffers one document.';
CREATE FUNCTION ecml.word2vec_train_combinefn(internal, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'text_rows_combinefn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word2vec_train_combinefn(internal, internal) IS
    'Support function of ecml.word2vec_train: merges partial states of parallel workers.';
CREATE FUNCTION ecml.word2vec_train_serialfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'text_rows_serialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word2vec_train_serialfn(internal) IS
    'Support function of ecml.word2vec_train: serializes a partial state.';
CREATE FUNCTION ecml.word2vec_train_deserialfn(bytea, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'text_rows_deserialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word2vec_train_deserialfn(bytea, internal) IS
    'Support function of ecml.word2vec_train: deserializes a partial state.';
CREATE FUNCTION ecml.word2vec_train_finalfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'word2vec_train_finalfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word2vec_train_finalfn(internal) IS
    'Support function of ecml.word2vec_train: trains on the buffered documents and returns the model.';

CREATE AGGREGATE ecml.word2vec_train(tokens text[], options jsonb) (
    SFUNC = ecml.word2vec_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.word2vec_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.word2vec_train_combinefn,
    SERIALFUNC = ecml.word2vec_train_serialfn,
    DESERIALFUNC = ecml.word2vec_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.word2vec_train(text[], jsonb) IS
    'Trains word vectors on documents (one row per document, its tokens from ecml.tokenize) by skip-gram or CBOW with negative sampling, with character n-gram subwords (fastText) so unseen and misspelt words get vectors. Options: method ("skipgram", "cbow"), dim (100), window (5), negative (5), epochs (5), min_count (5), max_vocab (100000: the most frequent words are kept), sample (1e-3, 0 = no subsampling), learning_rate (0.025, decays linearly), minn (3), maxn (6, 0 = no subwords), buckets (2000000), sif_a (1e-3, for embed_text), seed (42). NULL documents and documents without tokens are skipped and counted.';
CREATE AGGREGATE ecml.word2vec_train(tokens text[]) (
    SFUNC = ecml.word2vec_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.word2vec_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.word2vec_train_combinefn,
    SERIALFUNC = ecml.word2vec_train_serialfn,
    DESERIALFUNC = ecml.word2vec_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.word2vec_train(text[]) IS
    'Trains word vectors with default options; see the two-argument form.';

-- word vectors: loading pretrained rows
CREATE FUNCTION ecml.word_vectors_load_transfn(internal, text, real[], jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'word_vectors_load_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word_vectors_load_transfn(internal, text, real[], jsonb) IS
    'Support function of ecml.word_vectors_load: buffers one word and its vector.';
CREATE FUNCTION ecml.word_vectors_load_transfn(internal, text, real[])
    RETURNS internal AS 'MODULE_PATHNAME', 'word_vectors_load_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word_vectors_load_transfn(internal, text, real[]) IS
    'Support function of ecml.word_vectors_load: buffers one word and its vector.';
CREATE FUNCTION ecml.word_vectors_load_combinefn(internal, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'text_rows_combinefn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word_vectors_load_combinefn(internal, internal) IS
    'Support function of ecml.word_vectors_load: merges partial states of parallel workers.';
CREATE FUNCTION ecml.word_vectors_load_serialfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'text_rows_serialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word_vectors_load_serialfn(internal) IS
    'Support function of ecml.word_vectors_load: serializes a partial state.';
CREATE FUNCTION ecml.word_vectors_load_deserialfn(bytea, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'text_rows_deserialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word_vectors_load_deserialfn(bytea, internal) IS
    'Support function of ecml.word_vectors_load: deserializes a partial state.';
CREATE FUNCTION ecml.word_vectors_load_finalfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'word_vectors_load_finalfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word_vectors_load_finalfn(internal) IS
    'Support function of ecml.word_vectors_load: returns the model.';

CREATE AGGREGATE ecml.word_vectors_load(word text, vector real[], options jsonb) (
    SFUNC = ecml.word_vectors_load_transfn,
    STYPE = internal,
    FINALFUNC = ecml.word_vectors_load_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.word_vectors_load_combinefn,
    SERIALFUNC = ecml.word_vectors_load_serialfn,
    DESERIALFUNC = ecml.word_vectors_load_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.word_vectors_load(text, real[], jsonb) IS
    'A word_vectors model from pretrained vectors (GloVe or fastText rows loaded with COPY), one row per word, for word_vector, similar_words and embed_text. Every vector must have the same length; a repeated word is an error; rows with a NULL word or vector, or an empty word, are skipped and counted. Without counts, embed_text weighs every word 1. Options: sif_a (1e-3).';
CREATE AGGREGATE ecml.word_vectors_load(word text, vector real[]) (
    SFUNC = ecml.word_vectors_load_transfn,
    STYPE = internal,
    FINALFUNC = ecml.word_vectors_load_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.word_vectors_load_combinefn,
    SERIALFUNC = ecml.word_vectors_load_serialfn,
    DESERIALFUNC = ecml.word_vectors_load_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.word_vectors_load(text, real[]) IS
    'A word_vectors model from pretrained vectors with default options; see the three-argument form.';

-- word vectors: scoring
CREATE FUNCTION ecml.word_vector(model bytea, word text)
    RETURNS real[] AS 'MODULE_PATHNAME', 'ecml_word_vector'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.word_vector(bytea, text) IS
    'The vector of a word: its own, or for a word not in the vocabulary the average of its character n-grams (models trained with subwords); NULL when it has neither.';
CREATE FUNCTION ecml.similar_words(model bytea, word text, k integer)
    RETURNS TABLE(word text, similarity real) AS 'MODULE_PATHNAME', 'ecml_similar_words'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION ecml.similar_words(bytea, text, integer) IS
    'The k vocabulary words nearest a word by cosine similarity, best first, the word itself left out; no rows for a word without a vector.';
CREATE FUNCTION ecml.similar_words(model bytea, vector real[], k integer)
    RETURNS TABLE(word text, similarity real) AS 'MODULE_PATHNAME', 'ecml_similar_words_vec'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION ecml.similar_words(bytea, real[], integer) IS
    'The k vocabulary words nearest a vector (of the model''s dimension) by cosine similarity, best first (for analogies: vector arithmetic on word_vector results).';
CREATE FUNCTION ecml.embed_text(model bytea, tokens text[])
    RETURNS real[] AS 'MODULE_PATHNAME', 'ecml_embed_tokens'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.embed_text(bytea, text[]) IS
    'A text embedding of tokens: the SIF weighted average a/(a + p(w)) of their word vectors with the training corpus'' common component removed (Arora et al. 2017), at unit length, for ecml.search, pack_vectors and ecml_hnsw; NULL when no token has a vector.';
CREATE FUNCTION ecml.embed_text(model bytea, document text)
    RETURNS real[] AS 'MODULE_PATHNAME', 'ecml_embed_document'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.embed_text(bytea, text) IS
    'embed_text of ecml.tokenize(document) under default_text_search_config.';
CREATE FUNCTION ecml.embed_text(model bytea, document text, config regconfig)
    RETURNS real[] AS 'MODULE_PATHNAME', 'ecml_embed_document'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.embed_text(bytea, text, regconfig) IS
    'embed_text of ecml.tokenize(document, config); tokenize the training documents with the same configuration.';

-- text classifier
CREATE FUNCTION ecml.text_classifier_train_transfn(internal, text[], text, jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'text_classifier_train_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.text_classifier_train_transfn(internal, text[], text, jsonb) IS
    'Support function of ecml.text_classifier_train: buffers one labelled document.';
CREATE FUNCTION ecml.text_classifier_train_transfn(internal, text[], text)
    RETURNS internal AS 'MODULE_PATHNAME', 'text_classifier_train_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.text_classifier_train_transfn(internal, text[], text) IS
    'Support function of ecml.text_classifier_train: buffers one labelled document.';
CREATE FUNCTION ecml.text_classifier_train_combinefn(internal, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'text_rows_combinefn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.text_classifier_train_combinefn(internal, internal) IS
    'Support function of ecml.text_classifier_train: merges partial states of parallel workers.';
CREATE FUNCTION ecml.text_classifier_train_serialfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'text_rows_serialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.text_classifier_train_serialfn(internal) IS
    'Support function of ecml.text_classifier_train: serializes a partial state.';
CREATE FUNCTION ecml.text_classifier_train_deserialfn(bytea, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'text_rows_deserialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.text_classifier_train_deserialfn(bytea, internal) IS
    'Support function of ecml.text_classifier_train: deserializes a partial state.';
CREATE FUNCTION ecml.text_classifier_train_finalfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'text_classifier_train_finalfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.text_classifier_train_finalfn(internal) IS
    'Support function of ecml.text_classifier_train: trains on the buffered documents and returns the model.';

CREATE AGGREGATE ecml.text_classifier_train(tokens text[], label text, options jsonb) (
    SFUNC = ecml.text_classifier_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.text_classifier_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.text_classifier_train_combinefn,
    SERIALFUNC = ecml.text_classifier_train_serialfn,
    DESERIALFUNC = ecml.text_classifier_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.text_classifier_train(text[], text, jsonb) IS
    'Trains a fastText-style text classifier (averaged word and hashed word n-gram embeddings, softmax over the labels) on labelled documents, one row per document (sentiment, stars, topics: 2 to 10000 labels). Options: dim (100), epochs (5), learning_rate (0.1, decays linearly), word_ngrams (1: words only; 2 adds word pairs), buckets (2000000), min_count (1), max_vocab (100000), seed (42). Rows with a NULL document or label, or without tokens, are skipped and counted.';
CREATE AGGREGATE ecml.text_classifier_train(tokens text[], label text) (
    SFUNC = ecml.text_classifier_train_transfn,
    STYPE = internal,
    FINALFUNC = ecml.text_classifier_train_finalfn,
    FINALFUNC_MODIFY = READ_WRITE,
    COMBINEFUNC = ecml.text_classifier_train_combinefn,
    SERIALFUNC = ecml.text_classifier_train_serialfn,
    DESERIALFUNC = ecml.text_classifier_train_deserialfn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.text_classifier_train(text[], text) IS
    'Trains a text classifier with default options; see the three-argument form.';

CREATE FUNCTION ecml.text_classify(model bytea, tokens text[])
    RETURNS TABLE(label text, probability real) AS 'MODULE_PATHNAME', 'ecml_text_classify'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 5;
COMMENT ON FUNCTION ecml.text_classify(bytea, text[]) IS
    'Every label of a text classifier with its probability for a document, most probable first. Unknown tokens are ignored; a document without a known token gets every label with probability 1/labels (ties: the more frequent label first).';
CREATE FUNCTION ecml.text_label(model bytea, tokens text[])
    RETURNS text AS 'MODULE_PATHNAME', 'ecml_text_label'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.text_label(bytea, text[]) IS
    'The most probable label of a document (the first row of ecml.text_classify).';
CREATE FUNCTION ecml.text_explain(model bytea, tokens text[], label text DEFAULT NULL)
    RETURNS TABLE(token text, contribution real) AS 'MODULE_PATHNAME', 'ecml_text_explain'
    LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 20;
COMMENT ON FUNCTION ecml.text_explain(bytea, text[], text) IS
    'Why a document gets a label (the most probable one when label is NULL): each known token (and word n-gram, as "a b") with its contribution (1/n) x_t . (W_label - mean of W), largest first; the contributions add up to the label''s score minus the average label''s. No rows for a document without a known token.';
