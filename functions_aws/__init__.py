"""AWS Lambda handlers (import on S3 object-created, monthly train/promote).

Handlers stay thin: parse the event with aws-lambda-powertools, call one function of
``shared``, map errors. The stage itself lands with the AWS-stage issue.
"""
