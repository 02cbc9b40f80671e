"""``gantry demo``: the run over local parts (:mod:`.run`) and its two storefront builds (:mod:`.storefront`).

Its own layer between the commands and the stages. Nothing is re-exported here, so importing
:mod:`.storefront` does not pull in the stages.
"""
