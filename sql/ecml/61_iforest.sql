-- Anomaly scoring without labels: an isolation forest (Liu, Ting & Zhou 2008).

CREATE FUNCTION ecml.anomaly_train_transfn(internal, real[], jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'anomaly_train_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.anomaly_train_transfn(internal, real[], jsonb) IS
    'Support function of ecml.anomaly_train: offers one row to the per-tree reservoir samples.';
CREATE FUNCTION ecml.anomaly_train_transfn(internal, real[])
    RETURNS internal AS 'MODULE_PATHNAME', 'anomaly_train_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.anomaly_train_transfn(internal, real[]) IS
    'Support function of ecml.anomaly_train: offers one row to the per-tree reservoir samples.';
CREATE FUNCTION ecml.anomaly_train_combinefn(internal, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'anomaly_train_combinefn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.anomaly_train_combinefn(internal, internal) IS
    'Support function of ecml.anomaly_train: merges the reservoir samples of parallel workers (smallest keys win).';
CREATE FUNCTION ecml.anomaly_train_serialfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'anomaly_train_serialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.anomaly_train_serialfn(internal) IS
    'Support function of ecml.anomaly_train: serializes a partial state.';
CREATE FUNCTION ecml.anomaly_train_deserialfn(bytea, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'anomaly_train_deserialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.anomaly_train_deserialfn(bytea, internal) IS
    'Support function of ecml.anomaly_train: deserializes a partial state.';
CREATE FUNCTION ecml.anomaly_train_finalfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'anomaly_train_finalfn'
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
    RETURNS double precision AS 'MODULE_PATHNAME', 'anomaly_score'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.anomaly_score(bytea, real[]) IS
    'Isolation forest anomaly score s = 2^(-E[h(x)] / c(sample_size)) in (0, 1]: near 1 an anomaly, 0.5 or less a normal row (the score of scikit-learn''s IsolationForest, which returns -s from score_samples). NULL elements, NaN or infinite features are errors, as is a vector of the wrong length. The model is parsed once per query, not per row.';
