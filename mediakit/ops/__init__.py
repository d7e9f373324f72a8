"""Operator tools against a stack's resources (a deployed one with AWS credentials, or
`mediakit dev`): the dead-letter queue, tenant erase, reprocessing."""
