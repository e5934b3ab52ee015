-- ecml.train('mf'): each ALS half-step is one grouped aggregate whose state
-- is a row's normal equations (a bytea of O(factors^2) doubles).
CREATE FUNCTION ecml.mf_pass_transfn(state bytea, model bytea, other_id bigint, value real, params double precision[])
    RETURNS bytea AS 'MODULE_PATHNAME', 'mf_pass_transfn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ecml.mf_pass_transfn(bytea, bytea, bigint, real, double precision[]) IS
    'Support function of ecml.mf_pass: adds one interaction to the normal equations of its row, the partner''s factors looked up in model.';
CREATE FUNCTION ecml.mf_pass_combinefn(state bytea, other bytea)
    RETURNS bytea AS 'MODULE_PATHNAME', 'mf_pass_combinefn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ecml.mf_pass_combinefn(bytea, bytea) IS
    'Support function of ecml.mf_pass: adds two partial normal equations.';
CREATE FUNCTION ecml.mf_pass_finalfn(state bytea)
    RETURNS real[] AS 'MODULE_PATHNAME', 'mf_pass_finalfn'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.mf_pass_finalfn(bytea) IS
    'Support function of ecml.mf_pass: solves the normal equations (Cholesky) and returns the row''s factors, then its bias.';
CREATE AGGREGATE ecml.mf_pass(model bytea, other_id bigint, value real, params double precision[]) (
    SFUNC = ecml.mf_pass_transfn,
    STYPE = bytea,
    FINALFUNC = ecml.mf_pass_finalfn,
    COMBINEFUNC = ecml.mf_pass_combinefn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.mf_pass(bytea, bigint, real, double precision[]) IS
    'One row of an ALS half-step of ecml.train(''mf'', source): grouped by item (or user), sums the normal equations over the row''s interactions with the partners'' factors in model (an mf model: the users'' side, or the items'' with params[5] = 1) and solves them (Cholesky), returning the row''s factors, then its bias. params = {implicit 0/1, alpha, regularization, global mean, fixed side 0/1} followed, for implicit data, by the fixed side''s Gram matrix (factors x factors). ecml.train calls it; its state merges, so parallel and Citus workers compute it in parts.';

COMMENT ON FUNCTION ecml.train(text, text, jsonb) IS
    'Trains a model of the given kind (logreg, mf, iforest) on the rows of source, a SELECT whose columns are the kind''s aggregate arguments in order, in passes whose memory is O(model), not O(rows): each pass is one aggregate query (for mf, one grouped aggregate per ALS half-step) that parallel query and Citus push down. All passes read the calling statement''s snapshot. options: the kind''s training options, save_as (a name: the model is also stored as a new version in ecml.models) and the lifecycle options (holdout, validation_fraction, promote, tolerance, metric; docs/lifecycle.md). Returns the model.';
