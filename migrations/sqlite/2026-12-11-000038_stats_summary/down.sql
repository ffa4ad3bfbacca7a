DROP TABLE stats_summary;
