DROP TABLE follower_notes;
