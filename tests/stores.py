"""Object stores for tests: dummy S3 credentials, for the server the `s3_endpoint` fixture starts."""

S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
