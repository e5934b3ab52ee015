-- ecml.train('gbdt'): a bin-edge sketch pass, then one gradient-histogram
-- pass per tree level; both states are bytea sums that merge.
CREATE FUNCTION ecml.gbdt_sketch_transfn(state bytea, features real[], label boolean, sample_size integer, max_bins integer, seed bigint)
    RETURNS bytea AS 'MODULE_PATHNAME', 'gbdt_sketch_transfn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ecml.gbdt_sketch_transfn(bytea, real[], boolean, integer, integer, bigint) IS
    'Support function of ecml.gbdt_sketch: counts one row, its missing and distinct values, and offers it to the bottom-k sample.';
CREATE FUNCTION ecml.gbdt_sketch_combinefn(state bytea, other bytea)
    RETURNS bytea AS 'MODULE_PATHNAME', 'gbdt_sketch_combinefn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ecml.gbdt_sketch_combinefn(bytea, bytea) IS
    'Support function of ecml.gbdt_sketch: merges two partial sketches (counts add, distinct values unite, the samples keep the smallest hashes).';
CREATE AGGREGATE ecml.gbdt_sketch(features real[], label boolean, sample_size integer, max_bins integer, seed bigint) (
    SFUNC = ecml.gbdt_sketch_transfn,
    STYPE = bytea,
    COMBINEFUNC = ecml.gbdt_sketch_combinefn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.gbdt_sketch(real[], boolean, integer, integer, bigint) IS
    'The bin-edge pass of ecml.train(''gbdt'', source): a mergeable sketch of the rows, counts, each feature''s missing values, its distinct values while at most max_bins - 1, and the sample_size rows of smallest content hash (a sample that does not depend on row order or on how workers split the rows). Read its edges with ecml.gbdt_bin_edges.';

CREATE FUNCTION ecml.gbdt_bin_edges(sketch bytea, feature integer)
    RETURNS real[] AS 'MODULE_PATHNAME', 'gbdt_bin_edges'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.gbdt_bin_edges(bytea, integer) IS
    'The bin edges of a feature (numbered from 1) that ecml.train(''gbdt'') places from an ecml.gbdt_sketch: between the distinct values when they fit in the bins (as ecml.fraud_train), else at quantiles of the sample, each within eps of its rank with probability 1 - 2 exp(-2 sample_size eps^2) (DKW). A value goes to the first bin whose edge is at least the value.';

CREATE FUNCTION ecml.gbdt_pass_transfn(state bytea, features real[], label boolean, plan bytea)
    RETURNS bytea AS 'MODULE_PATHNAME', 'gbdt_pass_transfn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ecml.gbdt_pass_transfn(bytea, real[], boolean, bytea) IS
    'Support function of ecml.gbdt_pass: adds one row''s gradient and Hessian, at the margin of the plan''s finished trees, to the histogram of the node it reaches in the tree being grown.';
CREATE FUNCTION ecml.gbdt_pass_combinefn(state bytea, other bytea)
    RETURNS bytea AS 'MODULE_PATHNAME', 'gbdt_pass_combinefn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ecml.gbdt_pass_combinefn(bytea, bytea) IS
    'Support function of ecml.gbdt_pass: adds two partial histogram states.';
CREATE AGGREGATE ecml.gbdt_pass(features real[], label boolean, plan bytea) (
    SFUNC = ecml.gbdt_pass_transfn,
    STYPE = bytea,
    COMBINEFUNC = ecml.gbdt_pass_combinefn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.gbdt_pass(real[], boolean, bytea) IS
    'One tree level of ecml.train(''gbdt'', source): the gradient and Hessian histograms, with row counts, of the open nodes that the plan (built by ecml.train: bin edges, finished trees, the tree being grown) names; each row''s margin is recomputed from the finished trees. ecml.train calls it; its state merges, so parallel and Citus workers compute it in parts.';

COMMENT ON FUNCTION ecml.train(text, text, jsonb) IS
    'Trains a model of the given kind (logreg, gbdt, mf) on the rows of source, a SELECT whose columns are the kind''s aggregate arguments in order, in passes whose memory is O(model), not O(rows): each pass is one aggregate query (for mf, one grouped aggregate per ALS half-step; for gbdt, a bin-edge sketch then one histogram pass per tree level) that parallel query and Citus push down. All passes read the calling statement''s snapshot. options: the kind''s training options, save_as (a name: the model is also stored as a new version in ecml.models) and the lifecycle options (holdout, validation_fraction, promote, tolerance, metric; docs/lifecycle.md). Returns the model.';
