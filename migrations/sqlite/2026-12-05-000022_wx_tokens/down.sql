DROP TABLE wx_tokens;
