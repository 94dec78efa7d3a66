"""Using a session's Jupyter server: its files (contents API), kernels (over the kernel
websocket) and notebooks (run cell by cell, as nbclient does)."""
