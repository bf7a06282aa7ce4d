-- Trigram indexes (the next migration) let GET /api/history match `q` inside server names and error texts.
-- drizzle-kit does not emit extensions, so it is created here, before any index uses gin_trgm_ops.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
