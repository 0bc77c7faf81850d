-- A submission's `Idempotency-Key`, scoped to the account that sent it, and a digest of what
-- was submitted: the same key again returns the ticket stored the first time.
ALTER TABLE tickets
    ADD COLUMN submitter UUID,
    ADD COLUMN idempotency_key TEXT,
    ADD COLUMN request_digest BYTEA;
CREATE UNIQUE INDEX tickets_idempotency ON tickets (submitter, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
