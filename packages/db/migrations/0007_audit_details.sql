-- What an audit entry's route alone does not say (issue #12): a restore's destination server and target path.
ALTER TABLE "audit_log" ADD COLUMN "details" jsonb;
