"""gantry: catalog-driven Jenkins pipelines, security gates, ECR delivery and GitOps."""

__version__ = "0.1.0"
