-- Every decision stores its record (each candidate with its score) twice: in `decisions` and in
-- the outbox envelope that announces it. Records of a few dozen candidates pass the size at
-- which PostgreSQL compresses a value, and its default method (pglz) was a measurable share of
-- the database's time under load (routing-bench); lz4 compresses them several times faster.
-- Only new values are affected. A server built without lz4 keeps the default method.
DO $$
BEGIN
    ALTER TABLE decisions ALTER COLUMN detail SET COMPRESSION lz4;
    ALTER TABLE outbox ALTER COLUMN envelope SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    RAISE NOTICE 'lz4 is not available on this server; decision records keep the default compression';
END
$$;
