-- Reverts 008.
DROP TABLE IF EXISTS audit_log;
