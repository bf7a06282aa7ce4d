-- State the product keeps beside its queues, for QUEUE_BACKEND=postgres (on Redis the same lives in Redis keys).
-- See @mm/jobs src/stores/*. Unlogged: like Redis' keys it is short-lived coordination state, and unlogged tables
-- skip the WAL (a crash empties them, which only frees leases and forgets cancel markers and idempotency keys early).
CREATE UNLOGGED TABLE "queue_kv" (
	"key" text PRIMARY KEY NOT NULL,
	"value" text NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "queue_kv_expires_idx" ON "queue_kv" USING btree ("expires_at");
--> statement-breakpoint
CREATE UNLOGGED TABLE "server_leases" (
	"server_id" text PRIMARY KEY NOT NULL,
	"holder" text NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "server_job_index" (
	"server_id" text NOT NULL,
	"member" text NOT NULL,
	"at" bigint NOT NULL,
	CONSTRAINT "server_job_index_pk" PRIMARY KEY("server_id","member")
);
--> statement-breakpoint
CREATE INDEX "server_job_index_at_idx" ON "server_job_index" USING btree ("server_id","at");
