"""GitHub webhook receiver: verify, de-duplicate, route to the catalog's job, trigger Jenkins."""
