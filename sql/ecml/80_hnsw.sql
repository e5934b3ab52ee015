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
