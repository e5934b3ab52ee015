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
