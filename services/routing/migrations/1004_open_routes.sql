-- The SLA sweep reads the open routes every few seconds. The index of open routes left out
-- `new` (a ticket routing has seen but not yet placed), so the sweep's statements, which
-- include it, could not use the index and read every route ever made: a cost that grew with
-- the table's whole history instead of with the open work. The index now covers exactly the
-- statuses the sweep reads.
DROP INDEX routes_open;
CREATE INDEX routes_open ON routes (created_at)
    WHERE status IN ('new', 'review', 'queued', 'assigned', 'accepted', 'escalated');
