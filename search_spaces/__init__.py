"""Search spaces shipped with automl (installed as ``automl_search_spaces``); see automl.search_space."""
