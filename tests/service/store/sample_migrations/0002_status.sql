CREATE TABLE sample_status (
    stream_id uuid PRIMARY KEY,
    status text NOT NULL CHECK (status IN ('pending', 'processing', 'completed'))
);
CREATE INDEX sample_status_by_status ON sample_status (status);
