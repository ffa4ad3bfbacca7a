DROP TABLE follower_imports;
DROP TABLE segments;
DROP TABLE follower_attributes;
DROP TABLE attributes;
