"""gxctl: the one CLI of GX Pipeline. Only argument parsing and printing live here."""
