DROP TRIGGER jobs_hint_update ON jobs;
DROP TRIGGER jobs_hint_insert ON jobs;
DROP FUNCTION vcore_jobs_inserted();
DROP FUNCTION vcore_jobs_hint();
DROP TABLE paused_queues;
DROP TABLE leases;
DROP TABLE nodes;
