"""Storage stage: the schema revisions, oldest first (``vNNNN_name.py``, revision ``NNNN``)."""
