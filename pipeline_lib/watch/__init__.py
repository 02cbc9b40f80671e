"""``gantry watch``'s domain: the findings ledger across builds, the GitHub issues it keeps in step."""
