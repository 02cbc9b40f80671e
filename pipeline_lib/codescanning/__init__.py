"""GitHub code scanning: SARIF uploads (:mod:`.upload`).

Nothing is re-exported here, so importing a submodule stays as light as that submodule.
"""
