-- The account that submitted the ticket, when a customer did; customers see only these.
ALTER TABLE tickets ADD COLUMN customer_id UUID;
CREATE INDEX tickets_customer_id ON tickets (customer_id, created_at) WHERE customer_id IS NOT NULL;
