-- ecml update script 0.1.0 -> 0.2.0: model versions (docs/lifecycle.md).
-- Assembled by the Makefile from this file and sql/ecml/95_lifecycle.sql,
-- which a fresh install runs too.  Every model of a 0.1.0 registry becomes
-- version 1 of its name, live.

\echo Use "ALTER EXTENSION ecml UPDATE TO '0.2.0'" to load this file. \quit

ALTER TABLE ecml.models DROP CONSTRAINT models_pkey;
ALTER TABLE ecml.models
    ADD COLUMN version integer NOT NULL DEFAULT 1,
    ADD COLUMN live boolean NOT NULL DEFAULT true,
    ADD COLUMN saved_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    ADD COLUMN saved_by text NOT NULL DEFAULT CURRENT_USER,
    ADD COLUMN options jsonb,
    ADD COLUMN training_seconds double precision,
    ADD COLUMN holdout text,
    ADD COLUMN holdout_metrics jsonb,
    ADD COLUMN promoted bigint,
    ADD COLUMN events jsonb NOT NULL DEFAULT '[]';
-- what 0.1.0 knew: the model was saved when it was trained, by its owner
UPDATE ecml.models SET promoted = 1, saved_at = trained_at, saved_by = owner::text;
ALTER TABLE ecml.models
    ADD CONSTRAINT models_pkey PRIMARY KEY (name, version),
    ADD CONSTRAINT models_version_check CHECK (version > 0);
CREATE UNIQUE INDEX models_live ON ecml.models (name) WHERE live;
COMMENT ON TABLE ecml.models IS
    'Registry of trained ecml models: every save of a name is a numbered version, one of them live; kept by pg_dump, all versions. Write it with ecml.save_model() or ecml.save_version(), read it with ecml.model(), promote and roll back with ecml.promote() and ecml.rollback() (docs/lifecycle.md). Row security: a role sees and changes only the models whose owner role it has the privileges of.';
COMMENT ON FUNCTION ecml.model(text) IS
    'The live version of the model stored in ecml.models under name, as the caller''s snapshot and row security see it; an error if there is none. Read once per query and snapshot, not once per row.';


-- The ranking metrics keep a bounded, mergeable bytea state (score_bins.c)
-- instead of an internal buffer: drop the old aggregates and their support
-- functions; sql/ecml/40_metrics.sql and 62_pr_curve.sql, appended by the
-- Makefile, create the new ones.
DROP AGGREGATE ecml.roc_auc(double precision, boolean);
DROP AGGREGATE ecml.average_precision(double precision, boolean);
DROP AGGREGATE ecml.pr_curve(double precision, boolean);
DROP AGGREGATE ecml.pr_curve(double precision, boolean, integer);
DROP AGGREGATE ecml.threshold_for_precision(double precision, boolean, double precision);
DROP FUNCTION ecml.score_label_transfn(internal, double precision, boolean);
DROP FUNCTION ecml.score_label_combinefn(internal, internal);
DROP FUNCTION ecml.score_label_serialfn(internal);
DROP FUNCTION ecml.score_label_deserialfn(bytea, internal);
DROP FUNCTION ecml.roc_auc_finalfn(internal);
DROP FUNCTION ecml.average_precision_finalfn(internal);
DROP FUNCTION ecml.pr_curve_finalfn(internal);
DROP FUNCTION ecml.pr_curve_points_transfn(internal, double precision, boolean, integer);
DROP FUNCTION ecml.threshold_for_precision_transfn(internal, double precision, boolean, double precision);
DROP FUNCTION ecml.score_param_combinefn(internal, internal);
DROP FUNCTION ecml.score_param_serialfn(internal);
DROP FUNCTION ecml.score_param_deserialfn(bytea, internal);
DROP FUNCTION ecml.pr_curve_points_finalfn(internal);
DROP FUNCTION ecml.threshold_for_precision_finalfn(internal);

-- The distance functions get a planner support function (src/hnsw_cost.c).
CREATE FUNCTION ecml.vector_distance_support(internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'ecml_vector_distance_support'
    LANGUAGE C STRICT;
COMMENT ON FUNCTION ecml.vector_distance_support(internal) IS
    'Planner support function of the real[] distance functions: per-call cost from the vectors'' dimension.';
ALTER FUNCTION ecml.l2_distance(real[], real[]) SUPPORT ecml.vector_distance_support;
ALTER FUNCTION ecml.inner_product(real[], real[]) SUPPORT ecml.vector_distance_support;
ALTER FUNCTION ecml.negative_inner_product(real[], real[]) SUPPORT ecml.vector_distance_support;
ALTER FUNCTION ecml.cosine_distance(real[], real[]) SUPPORT ecml.vector_distance_support;

-- 0.2.0: lstm_train's options (dropout, weight_decay, repeat; validation on by default)
COMMENT ON AGGREGATE ecml.lstm_train(bigint[], jsonb) IS
    'Trains an LSTM next-token model on sequences (one row per sequence, tokens in time order). Options: embedding_dim (hidden_size), hidden_size (128), layers (1), epochs (20), batch_size (64), learning_rate (5e-3, Adam), max_length (200), min_count (1), max_vocab (100000), clip_norm (5), validation_fraction (0.1, with early stopping), patience (3), seed (42), softmax ("auto", "full", "sampled"), softmax_threshold (20000), num_sampled (512), bptt (0 = whole sequence), dropout (0.25), weight_decay (0), repeat ("auto": mix in the items of the sequence, RepeatNet-style, fitted on the validation sequences; "off"), cell ("lstm" or "gru" cells), tied (the output layer is the embedding; true when embedding_dim = hidden_size), batching ("sequences", or "session_parallel" lanes advancing session_steps (5) clicks per mini-batch); successors, neighbours, loss, bpr_reg and output_bias are in docs/next-action.md. NULL sequences and sequences of fewer than 2 tokens are skipped and counted.';

-- 0.2.0: the SQL API conventions (docs/DESIGN.md, CHANGELOG.md).  The
-- 0.1.0 names stay for one release as deprecated aliases of the new ones.
-- fraud_explain's third parameter is k, as everywhere else: a parameter
-- cannot be renamed in place, so the function is recreated.
DROP FUNCTION ecml.fraud_explain(bytea, real[], integer);
CREATE FUNCTION ecml.fraud_explain(model bytea, features real[], k integer)
    RETURNS jsonb AS 'MODULE_PATHNAME', 'fraud_explain'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.fraud_explain(bytea, real[], integer) IS
    'Explains a fraud score keeping only the k contributions largest by absolute value; see the two-argument form.';

CREATE FUNCTION ecml.fraud_feature_importance(model bytea)
    RETURNS TABLE(feature text, gain double precision, splits integer)
    AS 'MODULE_PATHNAME', 'fraud_feature_importance'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 30;
COMMENT ON FUNCTION ecml.fraud_feature_importance(bytea) IS
    'Feature importance of a fraud_train model: every feature with its total split gain (loss reduction) and number of splits, largest gain first.';
COMMENT ON FUNCTION ecml.feature_importance(bytea) IS
    'Deprecated, use ecml.fraud_feature_importance (same result); removed in 1.0.';

CREATE FUNCTION ecml.lstm_top(model bytea, sequence bigint[], k integer,
    exclude_seen boolean DEFAULT false)
    RETURNS TABLE(token bigint, probability real) AS 'MODULE_PATHNAME', 'lstm_top'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION ecml.lstm_top(bytea, bigint[], integer, boolean) IS
    'The k most likely next tokens after a sequence, with their probabilities, best first; exclude_seen leaves out tokens of the sequence. Unknown tokens read as the unknown token, which is never returned; an empty sequence scores from the initial state.';
CREATE FUNCTION ecml.lstm_top(model bytea, sequence text[], k integer,
    exclude_seen boolean DEFAULT false)
    RETURNS TABLE(token text, probability real) AS 'MODULE_PATHNAME', 'lstm_top'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION ecml.lstm_top(bytea, text[], integer, boolean) IS
    'The k most likely next tokens after a text sequence, with their probabilities, best first; see the bigint[] form.';
COMMENT ON FUNCTION ecml.lstm_predict(bytea, bigint[], integer, boolean) IS
    'Deprecated, use ecml.lstm_top (same rows); removed in 1.0.';
COMMENT ON FUNCTION ecml.lstm_predict(bytea, text[], integer, boolean) IS
    'Deprecated, use ecml.lstm_top (same rows); removed in 1.0.';

-- search leaves out seen ids as the recommendation functions do (exclude)
CREATE FUNCTION ecml.search(packed bytea, query real[], k integer, filter_ids bigint[], exclude bigint[])
    RETURNS TABLE (id bigint, distance real)
    AS 'MODULE_PATHNAME', 'ecml_search'
    LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION ecml.search(bytea, real[], integer, bigint[], bigint[]) IS
    'The k rows nearest to query, as the four-argument form, never returning the ids in exclude (the items a user has seen; ids absent from the pack are ignored). A NULL filter_ids means no filter, a NULL exclude excludes nothing.';
