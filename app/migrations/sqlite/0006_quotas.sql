-- Quotas also limit snapshots, and one template is what new projects get.
ALTER TABLE quota_templates ADD COLUMN snapshot_count INTEGER NOT NULL DEFAULT 0 CHECK (snapshot_count >= 0);
ALTER TABLE quota_templates ADD COLUMN snapshot_gib INTEGER NOT NULL DEFAULT 0 CHECK (snapshot_gib >= 0);
ALTER TABLE quota_templates ADD COLUMN is_default INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX quota_templates_default_key ON quota_templates (is_default) WHERE is_default = 1;
ALTER TABLE resource_quotas ADD COLUMN snapshot_count INTEGER NOT NULL DEFAULT 0 CHECK (snapshot_count >= 0);
ALTER TABLE resource_quotas ADD COLUMN snapshot_gib INTEGER NOT NULL DEFAULT 0 CHECK (snapshot_gib >= 0);
CREATE INDEX resource_quotas_template_idx ON resource_quotas (template_id);
ALTER TABLE resource_usage ADD COLUMN snapshot_count INTEGER NOT NULL DEFAULT 0 CHECK (snapshot_count >= 0);
ALTER TABLE resource_usage ADD COLUMN snapshot_gib INTEGER NOT NULL DEFAULT 0 CHECK (snapshot_gib >= 0);

-- A reservation is made before the cluster is asked (confirmed 0) and confirmed once the VM
-- exists; deleting marks a VM whose delete the cluster accepted. The reconciler only judges
-- rows whose changed_at is older than its look at the cluster, so it never releases what a
-- create in flight has just reserved.
ALTER TABLE vm_reservations ADD COLUMN confirmed INTEGER NOT NULL DEFAULT 1;
ALTER TABLE vm_reservations ADD COLUMN deleting INTEGER NOT NULL DEFAULT 0;
ALTER TABLE vm_reservations ADD COLUMN changed_at INTEGER NOT NULL DEFAULT 0;

INSERT INTO quota_templates (id, name, description, vcpus, memory_mib, disk_gib, vm_count,
    snapshot_count, snapshot_gib, is_default, created_at, updated_at) VALUES
    ('00000000-0000-4000-8000-000000000001', 'small', 'A few small VMs for one person or a trial.',
     4, 8192, 100, 5, 10, 100, 1, 0, 0),
    ('00000000-0000-4000-8000-000000000002', 'medium', 'A team''s development and test VMs.',
     16, 32768, 500, 20, 40, 500, 0, 0, 0),
    ('00000000-0000-4000-8000-000000000003', 'large', 'Production services or heavy workloads.',
     64, 131072, 2000, 100, 200, 2000, 0, 0, 0);

INSERT INTO resource_quotas (project_id, template_id, vcpus, memory_mib, disk_gib, vm_count,
    snapshot_count, snapshot_gib, updated_at)
SELECT p.id, t.id, t.vcpus, t.memory_mib, t.disk_gib, t.vm_count, t.snapshot_count,
    t.snapshot_gib, 0
FROM projects p, quota_templates t
WHERE t.is_default = 1 AND NOT EXISTS (SELECT 1 FROM resource_quotas q WHERE q.project_id = p.id);

INSERT INTO resource_usage (project_id, updated_at)
SELECT p.id, 0 FROM projects p
WHERE NOT EXISTS (SELECT 1 FROM resource_usage u WHERE u.project_id = p.id);
