DROP TABLE paused_queues;
DROP TABLE leases;
DROP TABLE nodes;
