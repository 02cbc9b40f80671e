"""Jenkins: the REST client (:mod:`.client`) and the last successful build's artifacts (:mod:`.artifacts`).

Nothing is re-exported here, so importing a submodule stays as light as that submodule.
"""
