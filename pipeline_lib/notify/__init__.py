"""Notifications: Slack incoming webhooks (:mod:`.slack`).

Nothing is re-exported here, so importing a submodule stays as light as that submodule.
"""
