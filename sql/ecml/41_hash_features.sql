-- The hashing trick: categorical tokens to a fixed-length feature vector.

CREATE FUNCTION ecml.hash_features(tokens text[], n integer)
    RETURNS real[] AS 'MODULE_PATHNAME', 'ecml_hash_features'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.hash_features(text[], integer) IS
    'Signed hashing trick: a real[] of n columns (1 to 16777216) where each token adds +1 or -1 at column |h| mod n, h being the signed 32-bit MurmurHash3 (x86, seed 0) of the token''s UTF-8 bytes and its sign giving the sign; identical to scikit-learn FeatureHasher(n_features=n, input_type="string", alternate_sign=True) on one sample. Repeated tokens add up; NULL elements are missing categories and add nothing; an empty array gives n zeros. Tokens must be a one-dimensional array.';
