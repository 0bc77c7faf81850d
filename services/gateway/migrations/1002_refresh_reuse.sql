-- The digest of the refresh token a session's current one replaced: presenting it again means
-- it was copied, and the session is ended.
ALTER TABLE sessions ADD COLUMN previous_hash BYTEA;
CREATE INDEX sessions_previous_hash ON sessions (previous_hash) WHERE previous_hash IS NOT NULL;
