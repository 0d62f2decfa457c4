-- The nonce of every self-probe that arrived (service/qstash/self_probe.py): a process
-- publishes a signed probe through QStash to its public URL, and whichever process of
-- the deployment QStash delivers it to records the nonce here, so that the sender sees
-- it arrive even when a load balancer handed it to another host.
--
-- UNLOGGED: a probe is worth nothing after a crash of PostgreSQL. The sender deletes its
-- nonces once it has an answer, and with them any an hour old (a sender that died).
CREATE UNLOGGED TABLE delivery_probes (
    nonce       text        PRIMARY KEY,
    arrived_at  timestamptz NOT NULL DEFAULT now()
);
