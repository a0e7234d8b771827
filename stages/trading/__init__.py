"""The trading application: strategy, risk and execution stages (each a pure core plus a thin ``stage.py``)."""
