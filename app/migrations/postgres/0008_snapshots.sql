-- One row per snapshot counted in resource_usage (snapshot_count and snapshot_gib), kept as
-- vm_reservations are: made before the cluster is asked, confirmed when it accepts, marked
-- deleting when a delete is accepted and released once the snapshot is gone.
CREATE TABLE snapshot_reservations (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    snapshot_name TEXT NOT NULL,
    snapshot_gib BIGINT NOT NULL CHECK (snapshot_gib >= 0),
    created_at BIGINT NOT NULL,
    confirmed BIGINT NOT NULL DEFAULT 0,
    deleting BIGINT NOT NULL DEFAULT 0,
    changed_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, snapshot_name)
);
