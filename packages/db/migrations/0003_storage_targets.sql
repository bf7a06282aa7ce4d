CREATE TABLE "storage_targets" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"engine" text NOT NULL,
	"location_type" text NOT NULL,
	"location" jsonb NOT NULL,
	"secrets" text NOT NULL,
	"created_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "storage_targets_name_unique" UNIQUE("name"),
	CONSTRAINT "storage_targets_engine_check" CHECK ("engine" IN ('restic', 'archive')),
	CONSTRAINT "storage_targets_location_type_check" CHECK ("location_type" IN ('local', 's3', 'rest', 'sftp')),
	CONSTRAINT "storage_targets_default_name_check" CHECK ("name" <> 'default')
);
--> statement-breakpoint
CREATE TABLE "storage_target_checks" (
	"id" uuid PRIMARY KEY NOT NULL,
	"storage_target_id" uuid,
	"status" text DEFAULT 'pending' NOT NULL,
	"read_data_subset" text,
	"message" text,
	"requested_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	CONSTRAINT "storage_target_checks_status_check" CHECK ("status" IN ('pending', 'running', 'passed', 'failed'))
);
--> statement-breakpoint
ALTER TABLE "storage_targets" ADD CONSTRAINT "storage_targets_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "storage_target_checks" ADD CONSTRAINT "storage_target_checks_storage_target_id_storage_targets_id_fk" FOREIGN KEY ("storage_target_id") REFERENCES "public"."storage_targets"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "storage_target_checks" ADD CONSTRAINT "storage_target_checks_requested_by_users_id_fk" FOREIGN KEY ("requested_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "storage_target_checks_target_created_idx" ON "storage_target_checks" USING btree ("storage_target_id","created_at" DESC NULLS LAST);--> statement-breakpoint
ALTER TABLE "servers" ADD COLUMN "storage_target_id" uuid;--> statement-breakpoint
ALTER TABLE "servers" ADD CONSTRAINT "servers_storage_target_id_storage_targets_id_fk" FOREIGN KEY ("storage_target_id") REFERENCES "public"."storage_targets"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "backup_schedules" ADD COLUMN "storage_target_id" uuid;--> statement-breakpoint
ALTER TABLE "backup_schedules" ADD CONSTRAINT "backup_schedules_storage_target_id_storage_targets_id_fk" FOREIGN KEY ("storage_target_id") REFERENCES "public"."storage_targets"("id") ON DELETE restrict ON UPDATE no action;
