-- Audit pages are read newest first by (time, id) and continue after the last row shown with a
-- row-value comparison on the same pair; with id in the index a deep page seeks straight to its
-- first row instead of scanning every row of the same millisecond.
DROP INDEX audit_logs_occurred_idx;
DROP INDEX audit_logs_project_idx;
CREATE INDEX audit_logs_occurred_idx ON audit_logs (occurred_at, id);
CREATE INDEX audit_logs_project_idx ON audit_logs (project_id, occurred_at, id);
