"""automl's built-in plugins (installed as ``automl_plugins``).

They register on the same ``automl_register_*`` hooks as any third-party package, so each module here is
also a working example of how to write a plugin.
"""
