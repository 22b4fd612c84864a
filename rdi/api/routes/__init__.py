"""One module per resource: login, pipelines (+ info, status, lifecycle), dlqs, secrets, metrics, jobs."""
