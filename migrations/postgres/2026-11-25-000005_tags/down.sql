DROP TABLE follower_tags;
DROP TABLE tags;
