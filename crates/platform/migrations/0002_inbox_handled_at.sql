-- Handled ids are deleted after a while (`inbox::prune`). Rows arrive in `handled_at` order, so
-- a BRIN index finds the old ones without a whole-table scan and costs next to nothing to keep.
CREATE INDEX inbox_handled_at ON inbox USING brin (handled_at);
