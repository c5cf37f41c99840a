DROP TABLE idempotent_requests;
DROP TABLE management_tokens;
