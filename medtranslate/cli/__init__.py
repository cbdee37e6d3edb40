"""The ``medtranslate`` command line: thin argument parsing over the package API."""
