"""binderfed in Jupyter: the server extension serving the session\x27s limits to the front end."""
