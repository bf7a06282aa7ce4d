ALTER TABLE "backups" ADD COLUMN "engine" text DEFAULT 'archive' NOT NULL;--> statement-breakpoint
ALTER TABLE "backups" ADD COLUMN "storage_target_id" uuid;--> statement-breakpoint
ALTER TABLE "backups" ADD COLUMN "snapshot_id" text;--> statement-breakpoint
ALTER TABLE "backups" ADD COLUMN "bytes_read" bigint;--> statement-breakpoint
ALTER TABLE "backups" ADD COLUMN "bytes_added" bigint;--> statement-breakpoint
ALTER TABLE "backups" ADD COLUMN "files_count" integer;--> statement-breakpoint
CREATE INDEX "backups_storage_target_idx" ON "backups" USING btree ("storage_target_id");--> statement-breakpoint
ALTER TABLE "retention_policies" ADD COLUMN "keep_monthly" integer;--> statement-breakpoint
ALTER TABLE "retention_policies" ADD COLUMN "keep_yearly" integer;--> statement-breakpoint
CREATE TABLE "backup_files" (
	"backup_id" uuid NOT NULL,
	"path" text NOT NULL,
	"parent" text NOT NULL,
	"name" text NOT NULL,
	"type" text NOT NULL,
	"size" bigint NOT NULL,
	"mtime" timestamp with time zone,
	CONSTRAINT "backup_files_backup_id_path_pk" PRIMARY KEY("backup_id","path")
);
--> statement-breakpoint
ALTER TABLE "backup_files" ADD CONSTRAINT "backup_files_backup_id_backups_id_fk" FOREIGN KEY ("backup_id") REFERENCES "public"."backups"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "backup_files_parent_idx" ON "backup_files" USING btree ("backup_id","parent","name");
