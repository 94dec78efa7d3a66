"""What both halves share."""

#: seconds an interrupted group waits for its jobs to unwind (close streams, shut sessions down)
DEFAULT_GRACE = 10.0
