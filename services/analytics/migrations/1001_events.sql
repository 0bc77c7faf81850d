-- Every event of the system, once (by event id): the audit trail.
CREATE TABLE events (
    event_id     UUID PRIMARY KEY,
    event_type   TEXT NOT NULL,
    version      INT NOT NULL,
    ticket_id    UUID,
    causation_id UUID,
    occurred_at  TIMESTAMPTZ NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    data         JSONB NOT NULL
);
CREATE INDEX events_ticket ON events (ticket_id, occurred_at);
CREATE INDEX events_type_time ON events (event_type, occurred_at);
