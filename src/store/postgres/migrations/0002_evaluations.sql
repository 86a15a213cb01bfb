-- Evaluation counts by environment, feature and hour since the epoch; hour 4294967295 is
-- a feature's all-time summary. Written through the state machine like identity rows.
CREATE TABLE burgee_evaluations (
    environment_id bigint NOT NULL,
    feature_id bigint NOT NULL,
    hour bigint NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (environment_id, feature_id, hour)
);

-- The prune looks for hours past retention.
CREATE INDEX burgee_evaluations_hour ON burgee_evaluations (hour);
