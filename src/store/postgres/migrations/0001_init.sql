-- Burgee's tables in PostgreSQL. Values are the store's own encoded records (bytea), so the
-- embedded and the PostgreSQL store hold byte-identical rows. Identifiers and trait keys are
-- bytea: they may hold any character (PostgreSQL text cannot hold NUL) and sort by bytes.

-- The one row every write locks first: writers of every replica serialise on it.
CREATE TABLE burgee_head (
    id smallint PRIMARY KEY CHECK (id = 1),
    -- The index of the last applied command (the catalog's `last_applied`).
    revision bigint NOT NULL,
    -- The encoded instance facts (counters, audit head, seed); empty before the first write.
    meta bytea NOT NULL,
    identity_count bigint NOT NULL
);
INSERT INTO burgee_head (id, revision, meta, identity_count) VALUES (1, 0, '', 0);

-- The configuration: one row per record, by kind (organisations, projects, environments …).
CREATE TABLE burgee_records (
    kind smallint NOT NULL,
    id bigint NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (kind, id)
);

CREATE TABLE burgee_identities (
    environment_id bigint NOT NULL,
    identifier bytea NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (environment_id, identifier)
);

CREATE TABLE burgee_traits (
    environment_id bigint NOT NULL,
    identifier bytea NOT NULL,
    key bytea NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (environment_id, identifier, key)
);

-- The hash-chained audit log, by sequence number.
CREATE TABLE burgee_audit (
    seq bigint PRIMARY KEY,
    value bytea NOT NULL
);

-- Deleted environments whose identity rows are still being removed.
CREATE TABLE burgee_purges (
    environment_id bigint PRIMARY KEY
);

-- What each committed batch changed in the configuration, for the other replicas to catch
-- up from without reloading everything; pruned to a recent window.
CREATE TABLE burgee_changes (
    revision bigint PRIMARY KEY,
    previous bigint NOT NULL,
    batch bytea NOT NULL,
    value bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
