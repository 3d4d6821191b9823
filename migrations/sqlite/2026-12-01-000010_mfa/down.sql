DROP TABLE user_mfa;
