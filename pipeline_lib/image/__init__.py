"""Image delivery: build through the Docker API, OCI registry client, push, replication check."""
