-- Messages the broker dead-lettered from any work queue, as the dead-letter tap received them.
CREATE TABLE dead_letters (
    id               UUID PRIMARY KEY,
    queue            TEXT NOT NULL,
    reason           TEXT,
    event_type       TEXT,
    ticket_id        UUID,
    body             TEXT NOT NULL,
    dead_lettered_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX dead_letters_time ON dead_letters (dead_lettered_at);
