-- ecml.train('iforest'): one sampling pass whose state is the per-tree
-- reservoirs in a flat bytea (t x psi rows) with a combine function, so
-- that parallel workers and Citus shards sample their own rows.
CREATE FUNCTION ecml.iforest_pass_transfn(state bytea, features real[], params double precision[])
    RETURNS bytea AS 'MODULE_PATHNAME', 'iforest_pass_transfn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ecml.iforest_pass_transfn(bytea, real[], double precision[]) IS
    'Support function of ecml.iforest_pass: offers one row to the per-tree reservoir samples.';
CREATE FUNCTION ecml.iforest_pass_combinefn(state bytea, other bytea)
    RETURNS bytea AS 'MODULE_PATHNAME', 'iforest_pass_combinefn'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION ecml.iforest_pass_combinefn(bytea, bytea) IS
    'Support function of ecml.iforest_pass: merges two partial samples, keeping per tree the rows with the smallest keys.';
CREATE AGGREGATE ecml.iforest_pass(features real[], params double precision[]) (
    SFUNC = ecml.iforest_pass_transfn,
    STYPE = bytea,
    COMBINEFUNC = ecml.iforest_pass_combinefn,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE ecml.iforest_pass(real[], double precision[]) IS
    'The sampling pass of ecml.train(''iforest'', source): per tree a uniform sample of sample_size rows (bottom-k reservoirs), in a bytea of n_trees x sample_size rows whose partial states merge, so that parallel and Citus workers each sample their own rows. params = {n_trees, sample_size, seed}. ecml.train calls it and grows the trees from the sample.';
