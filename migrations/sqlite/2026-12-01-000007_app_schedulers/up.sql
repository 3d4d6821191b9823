-- The schedulers an application built on vcore declares in code have no owner and are
-- found by name: one of each, even when two nodes start at once.
CREATE UNIQUE INDEX job_schedulers_unowned_name ON job_schedulers(name) WHERE owner_id IS NULL;
