-- ecml 0.1.0 install script: assembled from sql/ecml/*.sql in name order.
-- Core: version, BLIS information, the model container and the registry.

\echo Use "CREATE EXTENSION ecml" to load this file. \quit

-- ecml's functions are called by their schema-qualified names, and an
-- object made in schema ecml before ecml was installed (an overload taking
-- text, say) could capture such calls.  So the schema must be empty here:
-- new, or restored by pg_restore (which creates it just before this).
DO $$
DECLARE
    ns oid := pg_catalog.to_regnamespace('ecml');
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_class WHERE relnamespace OPERATOR(pg_catalog.=) ns)
       OR EXISTS (SELECT FROM pg_catalog.pg_proc WHERE pronamespace OPERATOR(pg_catalog.=) ns)
       OR EXISTS (SELECT FROM pg_catalog.pg_type WHERE typnamespace OPERATOR(pg_catalog.=) ns)
       OR EXISTS (SELECT FROM pg_catalog.pg_operator WHERE oprnamespace OPERATOR(pg_catalog.=) ns)
       OR EXISTS (SELECT FROM pg_catalog.pg_collation WHERE collnamespace OPERATOR(pg_catalog.=) ns)
       OR EXISTS (SELECT FROM pg_catalog.pg_conversion WHERE connamespace OPERATOR(pg_catalog.=) ns)
       OR EXISTS (SELECT FROM pg_catalog.pg_opfamily WHERE opfnamespace OPERATOR(pg_catalog.=) ns)
       OR EXISTS (SELECT FROM pg_catalog.pg_ts_config WHERE cfgnamespace OPERATOR(pg_catalog.=) ns)
       OR EXISTS (SELECT FROM pg_catalog.pg_ts_dict WHERE dictnamespace OPERATOR(pg_catalog.=) ns)
       OR EXISTS (SELECT FROM pg_catalog.pg_statistic_ext WHERE stxnamespace OPERATOR(pg_catalog.=) ns) THEN
        RAISE EXCEPTION 'schema "ecml" already exists and is not empty'
            USING ERRCODE = 'duplicate_schema',
                  HINT = 'ecml must be installed into a schema of its own: drop or rename the existing schema "ecml" first.';
    END IF;
END
$$;

CREATE FUNCTION ecml.version() RETURNS text
    AS 'MODULE_PATHNAME', 'ecml_version'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.version() IS
    'Version of the loaded ecml library.';

CREATE FUNCTION ecml.blas_info() RETURNS jsonb
    AS 'MODULE_PATHNAME', 'ecml_blas_info'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.blas_info() IS
    'The BLIS library in use: version, kernel set (arch), threading model and thread count (GUC ecml.blas_threads).';

CREATE FUNCTION ecml.model_info(model bytea) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'ecml_model_info'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.model_info(bytea) IS
    'Validates an ecml model (magic, version, kind, sizes, CRC32C) and describes it: kind, format version, size, rows used and skipped, creation time, shape, hyper-parameters, training metrics and sections.';

-- The registry.  Models are rows, so backups, replication and permissions
-- apply to them like to any other row.
CREATE TABLE ecml.models (
    name        text PRIMARY KEY,
    kind        text NOT NULL,
    model       bytea NOT NULL,
    trained_at  timestamptz NOT NULL,
    rows        bigint NOT NULL,
    metrics     jsonb,
    -- a regrole, not a name: it follows a renamed role, and a role made
    -- later under a dropped owner's name does not inherit its models
    owner       regrole NOT NULL
                DEFAULT pg_catalog.quote_ident(CURRENT_USER)::pg_catalog.regrole
);
-- float weights do not compress; uncompressed TOAST keeps loading cheap
ALTER TABLE ecml.models ALTER COLUMN model SET STORAGE EXTERNAL;
COMMENT ON TABLE ecml.models IS
    'Registry of trained ecml models by name; kept by pg_dump. Write it with ecml.save_model(), read it with ecml.model(). Row security: a role sees and changes only the models whose owner role it has the privileges of.';
COMMENT ON COLUMN ecml.models.owner IS
    'The role the model belongs to: its members may read, replace and delete it (given the table privileges to do so).';
SELECT pg_catalog.pg_extension_config_dump('ecml.models', '');
-- Nobody else may read or write the registry until granted (README,
-- "Security and privileges").  Installed as a trusted extension by a
-- database owner, the table still belongs to the bootstrap superuser: the
-- installing role gets the rights to manage it and to grant them on.
GRANT SELECT, INSERT, UPDATE, DELETE ON ecml.models TO @extowner@ WITH GRANT OPTION;
-- The table privileges say what a role may do with models, the owner
-- column which models: those of roles whose privileges it has (the owner
-- itself and its members, as pg_has_role's USAGE says).  The same check on
-- new rows keeps a role from saving a model as, or handing one to, a role
-- it does not belong to.  Superusers and the table's owner bypass it.
ALTER TABLE ecml.models ENABLE ROW LEVEL SECURITY;
CREATE POLICY models_owner ON ecml.models
    USING (pg_catalog.pg_has_role(CURRENT_USER, owner, 'USAGE'))
    WITH CHECK (pg_catalog.pg_has_role(CURRENT_USER, owner, 'USAGE'));

CREATE FUNCTION ecml.save_model(name text, model bytea) RETURNS void
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    info jsonb;
BEGIN
    IF name IS NULL OR model IS NULL THEN
        RAISE EXCEPTION 'ecml.save_model: name and model must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- kind, rows and created_at come from the validated header
    info := ecml.model_info(model);
    INSERT INTO ecml.models AS m (name, kind, model, trained_at, rows, metrics, owner)
    VALUES (save_model.name, info->>'kind', save_model.model,
            (info->>'created_at')::timestamptz, (info->>'rows')::bigint,
            info->'metrics', quote_ident(CURRENT_USER)::regrole)
    ON CONFLICT ON CONSTRAINT models_pkey DO UPDATE
        SET kind = EXCLUDED.kind, model = EXCLUDED.model,
            trained_at = EXCLUDED.trained_at, rows = EXCLUDED.rows,
            metrics = EXCLUDED.metrics;
END
$$;
COMMENT ON FUNCTION ecml.save_model(text, bytea) IS
    'Validates a model and stores it in ecml.models under name, replacing any model of that name. A new model belongs to the current role, a replaced one keeps its owner; row security refuses to replace a model whose owner role the caller does not belong to.';

CREATE FUNCTION ecml.model(name text) RETURNS bytea
    AS 'MODULE_PATHNAME', 'ecml_model_lookup'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.model(text) IS
    'The model stored in ecml.models under name, as the caller''s snapshot and row security see it; an error if there is none. Read once per query and snapshot, not once per row.';
