import os

# Keep TensorFlow quiet and single-process friendly in tests; real TF still runs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Tests must not pick up whatever third-party plugins happen to be installed on the machine.
os.environ.setdefault("AUTOML_DISABLE_PLUGIN_AUTOLOAD", "1")

# A throw-away PostgreSQL server for the multi-node tests (fixture `postgres`).
pytest_plugins = ["postgres_server"]
