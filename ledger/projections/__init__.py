"""The read side: custody status, the step index, presence and rooms from a persistent view.

See ``view.py`` (the tables and how they are written), ``projection.py`` (the fold into
them) and ``access.py`` (how a command gets a view that reflects the log's head)."""
