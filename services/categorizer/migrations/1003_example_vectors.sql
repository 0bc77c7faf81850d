-- Each example's embedding, per model (name, precision and input length): replicas whose models
-- differ, such as bfloat16 on one CPU and f32 on another, keep their vectors side by side
-- instead of overwriting each other's at every retraining. The columns `examples.embedding`
-- and `examples.embedding_model` are no longer written; they stay so that replicas of the
-- previous version keep working until every replica runs this one.
CREATE TABLE example_vectors (
    model      TEXT NOT NULL,
    example_id BIGINT NOT NULL REFERENCES examples (id) ON DELETE CASCADE,
    embedding  REAL[] NOT NULL,
    PRIMARY KEY (model, example_id)
);
INSERT INTO example_vectors (model, example_id, embedding)
    SELECT embedding_model, id, embedding FROM examples
    WHERE embedding IS NOT NULL AND embedding_model IS NOT NULL;
