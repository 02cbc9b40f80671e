"""Disaster recovery of images: prove a registry can serve the pinned digests, then switch to it.

``presence`` checks a registry (manifests, image-index children, every blob, by ``HEAD``);
``plan`` turns the GitOps repo's moves and those checks into the report ``gantry dr`` prints.
The switch itself is :func:`gitops.failover.switch_registry` (one effect-checked commit).
"""
