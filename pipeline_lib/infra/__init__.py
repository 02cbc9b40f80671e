"""Terraform in ``infra/``: catalog values, CLI config, and ``gantry infra check``."""
