-- What routing knows of each ticket, and the backlog of each pool (status = 'queued').
CREATE TABLE routes (
    ticket_id  UUID PRIMARY KEY,
    priority   TEXT NOT NULL DEFAULT 'normal',
    region     TEXT,
    category   TEXT,
    pool       TEXT,
    status     TEXT NOT NULL,
    created_at TIMESTAMPTZ,
    queued_at  TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX routes_backlog ON routes (pool, queued_at) WHERE status = 'queued';

-- Every routing decision with its reasons: the record behind /api/routing/history.
CREATE TABLE decisions (
    seq        BIGSERIAL PRIMARY KEY,
    event_id   UUID NOT NULL UNIQUE,
    ticket_id  UUID NOT NULL,
    kind       TEXT NOT NULL,
    category   TEXT,
    pool       TEXT,
    detail     JSONB NOT NULL,
    decided_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX decisions_ticket ON decisions (ticket_id, seq);
