-- Experts, their skills (the pools they serve), and assignments of tickets to them.

CREATE TABLE experts (
    id               UUID PRIMARY KEY,
    name             TEXT NOT NULL,
    email            TEXT,
    phone            TEXT,
    regions          TEXT[] NOT NULL DEFAULT '{}',
    availability     TEXT NOT NULL CHECK (availability IN ('available', 'busy', 'off')),
    -- Optional daily shift window in UTC; outside it the expert takes no new work.
    shift_start      TIME,
    shift_end        TIME,
    capacity         INT NOT NULL CHECK (capacity >= 0),
    -- Open assignments (assigned or accepted); changed only together with `assignments`.
    load             INT NOT NULL DEFAULT 0 CHECK (load >= 0),
    last_assigned_at TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE expert_skills (
    expert_id   UUID NOT NULL REFERENCES experts (id) ON DELETE CASCADE,
    pool        TEXT NOT NULL,
    proficiency REAL NOT NULL CHECK (proficiency > 0 AND proficiency <= 1),
    PRIMARY KEY (expert_id, pool)
);
CREATE INDEX expert_skills_pool ON expert_skills (pool);

-- One row per time a ticket was given to an expert. `status` is `assigned` or `accepted`
-- while the assignment is open; it ends as `rejected`, `done`, `taken_back` or `moved`.
CREATE TABLE assignments (
    id            BIGSERIAL PRIMARY KEY,
    ticket_id     UUID NOT NULL,
    expert_id     UUID NOT NULL REFERENCES experts (id),
    pool          TEXT NOT NULL,
    attempt       INT NOT NULL,
    status        TEXT NOT NULL,
    assigned_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    accept_due_at TIMESTAMPTZ,
    accepted_at   TIMESTAMPTZ,
    ended_at      TIMESTAMPTZ
);
-- At most one open assignment per ticket, whatever the number of routing replicas.
CREATE UNIQUE INDEX assignments_one_open ON assignments (ticket_id)
    WHERE status IN ('assigned', 'accepted');
CREATE INDEX assignments_expert_open ON assignments (expert_id)
    WHERE status IN ('assigned', 'accepted');
CREATE INDEX assignments_accept_due ON assignments (accept_due_at) WHERE status = 'assigned';
CREATE INDEX assignments_ticket ON assignments (ticket_id, id);

ALTER TABLE routes
    ADD COLUMN priority_rank SMALLINT GENERATED ALWAYS AS (
        CASE priority WHEN 'urgent' THEN 3 WHEN 'high' THEN 2 WHEN 'normal' THEN 1 ELSE 0 END
    ) STORED,
    -- Experts who rejected the ticket or let it time out: never offered it again.
    ADD COLUMN excluded      UUID[] NOT NULL DEFAULT '{}',
    ADD COLUMN rejections    INT NOT NULL DEFAULT 0,
    ADD COLUMN attempts      INT NOT NULL DEFAULT 0,
    ADD COLUMN first_assigned_at TIMESTAMPTZ,
    ADD COLUMN resolved_at   TIMESTAMPTZ;

DROP INDEX routes_backlog;
-- The backlog in assignment order: priority, then age.
CREATE INDEX routes_backlog ON routes (pool, priority_rank DESC, queued_at) WHERE status = 'queued';
-- Open tickets whose SLA clocks are watched.
CREATE INDEX routes_open ON routes (created_at) WHERE status IN ('queued', 'assigned', 'accepted', 'escalated', 'review');

-- A clock that ran out, once per ticket and clock.
CREATE TABLE sla_breaches (
    ticket_id   UUID NOT NULL,
    clock       TEXT NOT NULL,
    priority    TEXT NOT NULL,
    pool        TEXT,
    due_at      TIMESTAMPTZ NOT NULL,
    breached_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (ticket_id, clock)
);
