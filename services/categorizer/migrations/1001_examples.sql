-- Labelled examples the local model learns from: the taxonomy's own, an optional CSV of past
-- tickets, and every correction a person made. The embedding is stored so that retraining
-- (in every replica, after each correction) does not run the model over old examples again.
CREATE TABLE examples (
    id         BIGSERIAL PRIMARY KEY,
    source     TEXT NOT NULL,
    text       TEXT NOT NULL,
    label      TEXT NOT NULL,
    embedding  REAL[],
    event_id   UUID UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX examples_unique ON examples (source, md5(text), label) WHERE event_id IS NULL;
