-- The outbox (events waiting to be published) and the inbox (events already handled),
-- created in the schema of every service that uses this crate.
CREATE TABLE outbox (
    seq          BIGSERIAL PRIMARY KEY,
    event_id     UUID NOT NULL UNIQUE,
    envelope     JSONB NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at TIMESTAMPTZ
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;

CREATE TABLE inbox (
    event_id   UUID PRIMARY KEY,
    handled_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
