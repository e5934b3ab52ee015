-- Embedding similarity: packed exact top-k search.

CREATE FUNCTION ecml.pack_vectors_transfn(internal, bigint, real[], jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'pack_vectors_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.pack_vectors_transfn(internal, bigint, real[], jsonb) IS
    'Support function of ecml.pack_vectors: buffers one row.';
CREATE FUNCTION ecml.pack_vectors_transfn(internal, bigint, real[])
    RETURNS internal AS 'MODULE_PATHNAME', 'pack_vectors_transfn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.pack_vectors_transfn(internal, bigint, real[]) IS
    'Support function of ecml.pack_vectors: buffers one row.';
CREATE FUNCTION ecml.pack_vectors_combinefn(internal, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'pack_vectors_combinefn'
    LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION ecml.pack_vectors_combinefn(internal, internal) IS
    'Support function of ecml.pack_vectors: merges partial states of parallel workers.';
CREATE FUNCTION ecml.pack_vectors_serialfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'pack_vectors_serialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.pack_vectors_serialfn(internal) IS
    'Support function of ecml.pack_vectors: serializes a partial state.';
CREATE FUNCTION ecml.pack_vectors_deserialfn(bytea, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'pack_vectors_deserialfn'
    LANGUAGE C STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.pack_vectors_deserialfn(bytea, internal) IS
    'Support function of ecml.pack_vectors: deserializes a partial state.';
CREATE FUNCTION ecml.pack_vectors_finalfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'pack_vectors_finalfn'
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
    AS 'MODULE_PATHNAME', 'ecml_search'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION ecml.search(bytea, real[], integer) IS
    'The k rows of a pack nearest to query, best first (distance ascending, ties by id), by the pack''s metric: cosine distance (as <=>), negative inner product (as <#>) or L2 distance (as <->). Exact; k above the pack size returns every row. The pack is decoded once per backend.';

CREATE FUNCTION ecml.search(packed bytea, query real[], k integer, filter_ids bigint[])
    RETURNS TABLE (id bigint, distance real)
    AS 'MODULE_PATHNAME', 'ecml_search'
    LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION ecml.search(bytea, real[], integer, bigint[]) IS
    'The k rows nearest to query among the ids in filter_ids (ids absent from the pack are ignored; a NULL filter_ids means no filter, an empty one returns nothing), best first, ties by id.';

CREATE FUNCTION ecml.search(packed bytea, query real[], k integer, filter_ids bigint[], exclude bigint[])
    RETURNS TABLE (id bigint, distance real)
    AS 'MODULE_PATHNAME', 'ecml_search'
    LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION ecml.search(bytea, real[], integer, bigint[], bigint[]) IS
    'The k rows nearest to query, as the four-argument form, never returning the ids in exclude (the items a user has seen; ids absent from the pack are ignored). A NULL filter_ids means no filter, a NULL exclude excludes nothing.';

CREATE FUNCTION ecml.search_batch(packed bytea, queries real[], k integer)
    RETURNS TABLE (query_index integer, id bigint, rank integer, distance real)
    AS 'MODULE_PATHNAME', 'ecml_search_batch'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;
COMMENT ON FUNCTION ecml.search_batch(bytea, real[], integer) IS
    'The k nearest rows of a pack for every query, one query per row of the two-dimensional array queries (query_index counts from 1), rank 1 best; the same rows and distances as ecml.search of each query, computed with sgemm blocks.';
