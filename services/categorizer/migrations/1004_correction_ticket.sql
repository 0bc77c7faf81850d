-- The ticket a correction is of, and when the person made it: a later correction of the same
-- ticket replaces the earlier one, so the model does not keep learning a label that was undone.
ALTER TABLE examples
    ADD COLUMN ticket_id UUID,
    ADD COLUMN corrected_at TIMESTAMPTZ;
CREATE INDEX examples_ticket ON examples (ticket_id) WHERE ticket_id IS NOT NULL;
