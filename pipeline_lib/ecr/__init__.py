"""Amazon ECR: repositories, registry replication Seoul -> Tokyo, registry auth."""
