-- Which model (and input length) produced each stored embedding: a different model's vectors
-- are recomputed instead of being mixed with the current model's.
ALTER TABLE examples ADD COLUMN embedding_model TEXT;
