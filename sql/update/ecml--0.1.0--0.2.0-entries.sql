-- ecml update 0.1.0 -> 0.2.0: C entry points named after their SQL
-- functions (docs/DESIGN.md, names).  The 0.1.0 names stay in the library
-- (src/compat.c) for the 0.1.0 install script; these re-point each
-- function to its new entry point, with the same definition otherwise.

CREATE OR REPLACE FUNCTION ecml.model(name text) RETURNS bytea
    AS 'MODULE_PATHNAME', 'ecml_model'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION ecml.pack_vectors_transfn(internal, bigint, real[], jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'pack_vectors_transfn'
    LANGUAGE C PARALLEL SAFE;

CREATE OR REPLACE FUNCTION ecml.pack_vectors_transfn(internal, bigint, real[])
    RETURNS internal AS 'MODULE_PATHNAME', 'pack_vectors_transfn'
    LANGUAGE C PARALLEL SAFE;

CREATE OR REPLACE FUNCTION ecml.pack_vectors_combinefn(internal, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'pack_vectors_combinefn'
    LANGUAGE C PARALLEL SAFE;

CREATE OR REPLACE FUNCTION ecml.pack_vectors_serialfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'pack_vectors_serialfn'
    LANGUAGE C STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION ecml.pack_vectors_deserialfn(bytea, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'pack_vectors_deserialfn'
    LANGUAGE C STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION ecml.pack_vectors_finalfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'pack_vectors_finalfn'
    LANGUAGE C PARALLEL SAFE;

CREATE OR REPLACE FUNCTION ecml.search(packed bytea, query real[], k integer)
    RETURNS TABLE (id bigint, distance real)
    AS 'MODULE_PATHNAME', 'ecml_search'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;

CREATE OR REPLACE FUNCTION ecml.search(packed bytea, query real[], k integer, filter_ids bigint[])
    RETURNS TABLE (id bigint, distance real)
    AS 'MODULE_PATHNAME', 'ecml_search'
    LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 10;

CREATE OR REPLACE FUNCTION ecml.search_batch(packed bytea, queries real[], k integer)
    RETURNS TABLE (query_index integer, id bigint, rank integer, distance real)
    AS 'MODULE_PATHNAME', 'ecml_search_batch'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 1000;

CREATE OR REPLACE FUNCTION ecml.fraud_train_transfn(internal, real[], boolean, jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'fraud_train_transfn'
    LANGUAGE C PARALLEL SAFE;

CREATE OR REPLACE FUNCTION ecml.fraud_train_transfn(internal, real[], boolean)
    RETURNS internal AS 'MODULE_PATHNAME', 'fraud_train_transfn'
    LANGUAGE C PARALLEL SAFE;

CREATE OR REPLACE FUNCTION ecml.fraud_train_combinefn(internal, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'fraud_train_combinefn'
    LANGUAGE C PARALLEL SAFE;

CREATE OR REPLACE FUNCTION ecml.fraud_train_serialfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'fraud_train_serialfn'
    LANGUAGE C STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION ecml.fraud_train_deserialfn(bytea, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'fraud_train_deserialfn'
    LANGUAGE C STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION ecml.fraud_train_finalfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'fraud_train_finalfn'
    LANGUAGE C PARALLEL SAFE;

CREATE OR REPLACE FUNCTION ecml.fraud_score(model bytea, features real[])
    RETURNS double precision AS 'MODULE_PATHNAME', 'fraud_score'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION ecml.fraud_explain(model bytea, features real[])
    RETURNS jsonb AS 'MODULE_PATHNAME', 'fraud_explain'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION ecml.feature_importance(model bytea)
    RETURNS TABLE(feature text, gain double precision, splits integer)
    AS 'MODULE_PATHNAME', 'fraud_feature_importance'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 30;

CREATE OR REPLACE FUNCTION ecml.anomaly_train_transfn(internal, real[], jsonb)
    RETURNS internal AS 'MODULE_PATHNAME', 'anomaly_train_transfn'
    LANGUAGE C PARALLEL SAFE;

CREATE OR REPLACE FUNCTION ecml.anomaly_train_transfn(internal, real[])
    RETURNS internal AS 'MODULE_PATHNAME', 'anomaly_train_transfn'
    LANGUAGE C PARALLEL SAFE;

CREATE OR REPLACE FUNCTION ecml.anomaly_train_combinefn(internal, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'anomaly_train_combinefn'
    LANGUAGE C PARALLEL SAFE;

CREATE OR REPLACE FUNCTION ecml.anomaly_train_serialfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'anomaly_train_serialfn'
    LANGUAGE C STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION ecml.anomaly_train_deserialfn(bytea, internal)
    RETURNS internal AS 'MODULE_PATHNAME', 'anomaly_train_deserialfn'
    LANGUAGE C STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION ecml.anomaly_train_finalfn(internal)
    RETURNS bytea AS 'MODULE_PATHNAME', 'anomaly_train_finalfn'
    LANGUAGE C PARALLEL SAFE;

CREATE OR REPLACE FUNCTION ecml.anomaly_score(model bytea, features real[])
    RETURNS double precision AS 'MODULE_PATHNAME', 'anomaly_score'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION ecml.lstm_predict(model bytea, sequence bigint[], k integer,
    exclude_seen boolean DEFAULT false)
    RETURNS TABLE(token bigint, probability real) AS 'MODULE_PATHNAME', 'lstm_top'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;

CREATE OR REPLACE FUNCTION ecml.lstm_predict(model bytea, sequence text[], k integer,
    exclude_seen boolean DEFAULT false)
    RETURNS TABLE(token text, probability real) AS 'MODULE_PATHNAME', 'lstm_top'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 10;

CREATE OR REPLACE FUNCTION ecml.embed_text(model bytea, tokens text[])
    RETURNS real[] AS 'MODULE_PATHNAME', 'ecml_embed_text_tokens'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION ecml.embed_text(model bytea, document text)
    RETURNS real[] AS 'MODULE_PATHNAME', 'ecml_embed_text_document'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;

CREATE OR REPLACE FUNCTION ecml.embed_text(model bytea, document text, config regconfig)
    RETURNS real[] AS 'MODULE_PATHNAME', 'ecml_embed_text_document'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
