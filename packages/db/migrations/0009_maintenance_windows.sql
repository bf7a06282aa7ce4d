CREATE TABLE "maintenance_windows" (
	"name" text PRIMARY KEY NOT NULL,
	"cron" text NOT NULL,
	"timezone" text DEFAULT 'UTC' NOT NULL,
	"duration_min" integer NOT NULL,
	"selector" jsonb NOT NULL,
	"created_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "maintenance_windows_duration_check" CHECK ("duration_min" between 1 and 10080)
);
--> statement-breakpoint
ALTER TABLE "maintenance_windows" ADD CONSTRAINT "maintenance_windows_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "fleet_runs" ADD COLUMN "ignore_windows" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "fleet_run_servers" ADD COLUMN "waiting_for" text;--> statement-breakpoint
ALTER TABLE "servers" ADD COLUMN "package_holds" text[] DEFAULT '{}' NOT NULL;
