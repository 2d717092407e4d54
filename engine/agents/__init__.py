"""Decision agents as plugins (``Bot`` protocol, :mod:`engine.agents.base`): ``starter``,
``retest`` and the product's rule ``fusion``, plus any found through the
``greenlight.agents`` entry points or ``[agents] plugins_dir`` (:mod:`engine.agents.registry`)."""
