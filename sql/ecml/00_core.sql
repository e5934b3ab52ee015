-- ecml install script: assembled from sql/ecml/*.sql in name order.
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
    name        text NOT NULL,
    -- every save of a name is a new version, 1, 2, ...; ecml.model(name)
    -- reads the live one (docs/lifecycle.md)
    version     integer NOT NULL DEFAULT 1,
    kind        text NOT NULL,
    model       bytea NOT NULL,
    trained_at  timestamptz NOT NULL,
    rows        bigint NOT NULL,
    metrics     jsonb,
    -- a regrole, not a name: it follows a renamed role, and a role made
    -- later under a dropped owner's name does not inherit its models
    owner       regrole NOT NULL
                DEFAULT pg_catalog.quote_ident(CURRENT_USER)::pg_catalog.regrole,
    live        boolean NOT NULL DEFAULT true,
    saved_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    saved_by    text NOT NULL DEFAULT CURRENT_USER,
    options     jsonb,
    training_seconds double precision,
    holdout     text,
    holdout_metrics jsonb,
    -- the order of promotions: ecml.rollback() returns to the version
    -- promoted before the live one (NULL: never live, or rolled back)
    promoted    bigint,
    -- this version's promotions, refusal and rollbacks (ecml.model_history)
    events      jsonb NOT NULL DEFAULT '[]',
    CONSTRAINT models_pkey PRIMARY KEY (name, version),
    CONSTRAINT models_version_check CHECK (version > 0)
);
-- one live version per name; ecml.save_model() also relies on it to refuse
-- a name another team's row security hides (docs/lifecycle.md)
CREATE UNIQUE INDEX models_live ON ecml.models (name) WHERE live;
-- float weights do not compress; uncompressed TOAST keeps loading cheap
ALTER TABLE ecml.models ALTER COLUMN model SET STORAGE EXTERNAL;
COMMENT ON TABLE ecml.models IS
    'Registry of trained ecml models: every save of a name is a numbered version, one of them live; kept by pg_dump, all versions. Write it with ecml.save_model() or ecml.save_version(), read it with ecml.model(), promote and roll back with ecml.promote() and ecml.rollback() (docs/lifecycle.md). Row security: a role sees and changes only the models whose owner role it has the privileges of.';
COMMENT ON COLUMN ecml.models.owner IS
    'The role the model belongs to: its members may read, replace and delete it (given the table privileges to do so).';
SELECT pg_catalog.pg_extension_config_dump('ecml.models', '');
-- Nobody else may read or write the registry until granted (docs/security.md,
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

-- ecml.save_model() is in 95_lifecycle.sql: it saves versions.

CREATE FUNCTION ecml.model(name text) RETURNS bytea
    AS 'MODULE_PATHNAME', 'ecml_model'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION ecml.model(text) IS
    'The live version of the model stored in ecml.models under name, as the caller''s snapshot and row security see it; an error if there is none. Read once per query and snapshot, not once per row.';
