"""Protocol code, one module per wire dialect. See base.py for the contract."""
