-- The attempt number of the ticket's latest assignment event (`ticket.assigned` or
-- `ticket.unassigned`) the pipeline applied: an older one that arrives late is history only.
ALTER TABLE tickets ADD COLUMN assignment_attempt INT;

UPDATE tickets AS t
SET assignment_attempt = latest.attempt
FROM (
    SELECT ticket_id, max((data ->> 'attempt')::int) AS attempt
    FROM ticket_events
    WHERE event_type = 'ticket.assigned'
    GROUP BY ticket_id
) AS latest
WHERE t.id = latest.ticket_id;
