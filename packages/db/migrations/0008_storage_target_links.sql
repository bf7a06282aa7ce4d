-- Issue #14, second part. A backup's storage target is now a real reference: ON DELETE RESTRICT, the same rule the
-- API applies (DELETE /api/storage-targets/:id answers 409 while backups reference the target), so a target can
-- never vanish under the records whose data it holds, even when a worker writes a record during the delete.
-- A row naming a target that no longer exists (impossible through the API) stops the migration with a clear message:
-- setting it to null would silently mean "the default target", which is wrong.
DO $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM "backups" b
    WHERE b."storage_target_id" IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM "storage_targets" t WHERE t."id" = b."storage_target_id")
  ) THEN
    RAISE EXCEPTION 'backups reference storage targets that no longer exist; restore those targets (or delete those backup records) before migrating';
  END IF;
END $$;--> statement-breakpoint
ALTER TABLE "backups" ADD CONSTRAINT "backups_storage_target_id_storage_targets_id_fk" FOREIGN KEY ("storage_target_id") REFERENCES "public"."storage_targets"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
-- Restore of a subset: the members asked for (absolute paths as the backup recorded them); null restores everything.
ALTER TABLE "restores" ADD COLUMN "paths" text[];--> statement-breakpoint
-- A failed check names the backups whose snapshots use the damaged packs.
ALTER TABLE "storage_target_checks" ADD COLUMN "affected_backup_ids" uuid[];
