DROP TABLE broadcast_chunks;
DROP TABLE broadcast_slots;
DROP TABLE broadcasts;
DROP TABLE broadcast_settings;
