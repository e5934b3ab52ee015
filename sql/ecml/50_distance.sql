-- Embedding similarity: distances and operators on real[].
-- Operators live in schema ecml: write OPERATOR(ecml.<=>), or put ecml on
-- the search_path (SET search_path = public, ecml) and write a <=> b.

-- The planner support function of the distance functions: the cost of one
-- call grows with the dimension (and with reading a vector stored out of
-- line), so the planner compares a sort over every row with an ecml_hnsw
-- index scan on one scale (src/hnsw_cost.c).
CREATE FUNCTION ecml.vector_distance_support(internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'ecml_vector_distance_support'
    LANGUAGE C STRICT;
COMMENT ON FUNCTION ecml.vector_distance_support(internal) IS
    'Planner support function of the real[] distance functions: per-call cost from the vectors'' dimension.';

CREATE FUNCTION ecml.l2_distance(a real[], b real[]) RETURNS double precision
    AS 'MODULE_PATHNAME', 'ecml_l2_distance'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    SUPPORT ecml.vector_distance_support;
COMMENT ON FUNCTION ecml.l2_distance(real[], real[]) IS
    'Euclidean (L2) distance |a - b| between two vectors of the same length (operator <->). NULL elements, NaN, infinity, empty vectors or different lengths are errors.';

CREATE FUNCTION ecml.inner_product(a real[], b real[]) RETURNS double precision
    AS 'MODULE_PATHNAME', 'ecml_inner_product'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    SUPPORT ecml.vector_distance_support;
COMMENT ON FUNCTION ecml.inner_product(real[], real[]) IS
    'Inner (dot) product a . b of two vectors of the same length; operator <#> is its negative, so that smaller is closer.';

CREATE FUNCTION ecml.negative_inner_product(a real[], b real[]) RETURNS double precision
    AS 'MODULE_PATHNAME', 'ecml_negative_inner_product'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    SUPPORT ecml.vector_distance_support;
COMMENT ON FUNCTION ecml.negative_inner_product(real[], real[]) IS
    'Negative inner product -(a . b) (operator <#>): ascending order puts the largest inner product first.';

CREATE FUNCTION ecml.cosine_distance(a real[], b real[]) RETURNS double precision
    AS 'MODULE_PATHNAME', 'ecml_cosine_distance'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
    SUPPORT ecml.vector_distance_support;
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
