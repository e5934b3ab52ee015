-- ecml update script 0.1.0 -> 0.2.0: model versions (docs/lifecycle.md).
-- Assembled by the Makefile from this file and sql/ecml/95_lifecycle.sql,
-- which a fresh install runs too.  Every model of a 0.1.0 registry becomes
-- version 1 of its name, live.

\echo Use "ALTER EXTENSION ecml UPDATE TO '0.2.0'" to load this file. \quit

ALTER TABLE ecml.models DROP CONSTRAINT models_pkey;
ALTER TABLE ecml.models
    ADD COLUMN version integer NOT NULL DEFAULT 1,
    ADD COLUMN live boolean NOT NULL DEFAULT true,
    ADD COLUMN saved_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    ADD COLUMN saved_by text NOT NULL DEFAULT CURRENT_USER,
    ADD COLUMN options jsonb,
    ADD COLUMN training_seconds double precision,
    ADD COLUMN holdout text,
    ADD COLUMN holdout_metrics jsonb,
    ADD COLUMN promoted bigint,
    ADD COLUMN events jsonb NOT NULL DEFAULT '[]';
-- what 0.1.0 knew: the model was saved when it was trained, by its owner
UPDATE ecml.models SET promoted = 1, saved_at = trained_at, saved_by = owner::text;
ALTER TABLE ecml.models
    ADD CONSTRAINT models_pkey PRIMARY KEY (name, version),
    ADD CONSTRAINT models_version_check CHECK (version > 0);
CREATE UNIQUE INDEX models_live ON ecml.models (name) WHERE live;
COMMENT ON TABLE ecml.models IS
    'Registry of trained ecml models: every save of a name is a numbered version, one of them live; kept by pg_dump, all versions. Write it with ecml.save_model() or ecml.save_version(), read it with ecml.model(), promote and roll back with ecml.promote() and ecml.rollback() (docs/lifecycle.md). Row security: a role sees and changes only the models whose owner role it has the privileges of.';
COMMENT ON FUNCTION ecml.model(text) IS
    'The live version of the model stored in ecml.models under name, as the caller''s snapshot and row security see it; an error if there is none. Read once per query and snapshot, not once per row.';

