"""Tables and their contracts: standard names, foreign keys and the rules each DawsOS table must keep."""
