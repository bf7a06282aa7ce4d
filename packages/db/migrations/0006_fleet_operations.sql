ALTER TABLE "servers" ADD COLUMN "labels" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "servers" ADD COLUMN "os" text;--> statement-breakpoint
ALTER TABLE "servers" ADD COLUMN "os_version" text;--> statement-breakpoint
CREATE INDEX "servers_labels_idx" ON "servers" USING gin ("labels" jsonb_path_ops);--> statement-breakpoint
CREATE TABLE "fleet_runs" (
	"id" uuid PRIMARY KEY NOT NULL,
	"action" text NOT NULL,
	"options" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"selector" jsonb NOT NULL,
	"concurrency" integer NOT NULL,
	"rollout" jsonb,
	"state" text DEFAULT 'running' NOT NULL,
	"reason" text,
	"current_wave" integer DEFAULT 0 NOT NULL,
	"wave_count" integer NOT NULL,
	"next_wave_at" timestamp with time zone,
	"requested_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	CONSTRAINT "fleet_runs_action_check" CHECK ("action" in ('backup', 'scan', 'update')),
	CONSTRAINT "fleet_runs_state_check" CHECK ("state" in ('running', 'paused', 'completed', 'failed', 'aborted'))
);
--> statement-breakpoint
ALTER TABLE "fleet_runs" ADD CONSTRAINT "fleet_runs_requested_by_users_id_fk" FOREIGN KEY ("requested_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "fleet_runs_created_idx" ON "fleet_runs" USING btree ("created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "fleet_runs_state_idx" ON "fleet_runs" USING btree ("state");--> statement-breakpoint
CREATE TABLE "fleet_run_servers" (
	"run_id" uuid NOT NULL,
	"position" integer NOT NULL,
	"server_id" uuid NOT NULL,
	"server_name" text NOT NULL,
	"wave" integer NOT NULL,
	"job_id" uuid NOT NULL,
	"state" text DEFAULT 'pending' NOT NULL,
	"gate_job_id" uuid,
	"gate_state" text,
	"error" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "fleet_run_servers_run_id_position_pk" PRIMARY KEY("run_id","position"),
	CONSTRAINT "fleet_run_servers_state_check" CHECK ("state" in ('pending', 'queued', 'completed', 'failed', 'cancelled', 'skipped')),
	CONSTRAINT "fleet_run_servers_gate_state_check" CHECK ("gate_state" in ('queued', 'passed', 'failed'))
);
--> statement-breakpoint
ALTER TABLE "fleet_run_servers" ADD CONSTRAINT "fleet_run_servers_run_id_fleet_runs_id_fk" FOREIGN KEY ("run_id") REFERENCES "public"."fleet_runs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "fleet_run_servers_run_server_idx" ON "fleet_run_servers" USING btree ("run_id","server_id");--> statement-breakpoint
CREATE UNIQUE INDEX "fleet_run_servers_job_idx" ON "fleet_run_servers" USING btree ("job_id");--> statement-breakpoint
CREATE INDEX "fleet_run_servers_open_idx" ON "fleet_run_servers" USING btree ("run_id","wave") WHERE "state" in ('pending', 'queued') or "gate_state" = 'queued';
--> statement-breakpoint
ALTER TABLE "backup_schedules" ADD COLUMN "rpo_seconds" integer;--> statement-breakpoint
ALTER TABLE "backup_schedules" ADD COLUMN "interval_seconds" integer;--> statement-breakpoint
ALTER TABLE "backup_schedules" ADD COLUMN "interval_cron" text;--> statement-breakpoint
ALTER TABLE "servers" ADD COLUMN "backup_overdue_since" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "backups_server_done_idx" ON "backups" USING btree ("server_id","finished_at" DESC NULLS LAST) WHERE "backups"."status" = 'completed';
--> statement-breakpoint
ALTER TABLE "servers" ADD COLUMN "upgradable_packages" integer;--> statement-breakpoint
ALTER TABLE "servers" ADD COLUMN "reboot_required" boolean;--> statement-breakpoint
ALTER TABLE "servers" ADD COLUMN "critical_findings" integer;
