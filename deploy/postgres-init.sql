-- Run once, by the postgres image, when its data volume is empty (docker-entrypoint-initdb.d).
-- One database per consumer, all owned by the `kitepilot` role the image creates from
-- POSTGRES_USER (whose own database, POSTGRES_DB=kitepilot, is the operational store).
-- The store's tables are plain PostgreSQL tables; run `CREATE EXTENSION timescaledb` in a database
-- before making hypertables there.
CREATE DATABASE mlflow;
CREATE DATABASE dagster;
CREATE DATABASE paper_exchange;
