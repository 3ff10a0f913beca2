"""One renderer per output format, each a function from result records to text
(pip-audit style). json and csv are stable contracts; the table is for people."""
