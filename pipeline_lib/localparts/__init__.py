"""Real local stand-ins started by ``gantry demo`` and the tests, all bound to 127.0.0.1.

Each part is a context manager owning one child process: an OCI registry (Debian
``docker-registry``), podman's Docker-compatible API service, and moto's AWS server.
"""
