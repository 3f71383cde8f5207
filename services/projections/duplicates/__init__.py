"""The duplicate-approach read model: the same company worked by two sales teams or sites at once.

``tables`` names and creates its tables, ``projection`` writes them, and ``queries``
finds the companies worked twice in a window the caller chooses.
"""
