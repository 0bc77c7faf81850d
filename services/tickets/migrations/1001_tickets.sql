CREATE TABLE tickets (
    id             UUID PRIMARY KEY,
    title          TEXT NOT NULL,
    description    TEXT NOT NULL,
    customer       TEXT NOT NULL,
    region         TEXT,
    channel        TEXT NOT NULL,
    priority       TEXT NOT NULL,
    status         TEXT NOT NULL,
    category       TEXT,
    confidence     REAL,
    method         TEXT,
    needs_review   BOOLEAN NOT NULL DEFAULT false,
    pool           TEXT,
    assignee       UUID,
    assignee_name  TEXT,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    categorized_at TIMESTAMPTZ,
    assigned_at    TIMESTAMPTZ,
    resolved_at    TIMESTAMPTZ
);
CREATE INDEX tickets_status ON tickets (status, created_at);
CREATE INDEX tickets_customer ON tickets (customer, created_at);
CREATE INDEX tickets_assignee ON tickets (assignee, created_at) WHERE assignee IS NOT NULL;
CREATE INDEX tickets_category ON tickets (category, created_at);
CREATE INDEX tickets_pool ON tickets (pool, created_at);

-- Every event of a ticket, produced here or consumed from the pipeline: the audit trail the
-- history endpoint reads.
CREATE TABLE ticket_events (
    seq          BIGSERIAL PRIMARY KEY,
    event_id     UUID NOT NULL UNIQUE,
    ticket_id    UUID NOT NULL REFERENCES tickets (id),
    event_type   TEXT NOT NULL,
    occurred_at  TIMESTAMPTZ NOT NULL,
    causation_id UUID,
    data         JSONB NOT NULL
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, occurred_at, seq);
