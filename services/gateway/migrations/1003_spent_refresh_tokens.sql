-- The digest of every refresh token a live session has spent, not only the last one: whichever
-- of them is presented again was copied, and the session is ended.
CREATE TABLE spent_refresh_tokens (
    hash       BYTEA PRIMARY KEY,
    session_id UUID NOT NULL REFERENCES sessions (id)
);
CREATE INDEX spent_refresh_tokens_session ON spent_refresh_tokens (session_id);
INSERT INTO spent_refresh_tokens (hash, session_id)
SELECT previous_hash, id FROM sessions
WHERE previous_hash IS NOT NULL AND revoked_at IS NULL
ON CONFLICT DO NOTHING;
