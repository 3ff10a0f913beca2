"""The least a batch must do without computing anything: read each row, look its request
up, and write a line as wide as batch's own.  python output_floor.py INPUT OUTPUT WIDTH

WIDTH is batch's output bytes a row (newline included); what batch takes beyond this is
the answers.
"""

import csv
import itertools
import sys

line, lines = b"x" * (int(sys.argv[3]) - 1) + b"\n", {}
with open(sys.argv[1], newline="") as source, open(sys.argv[2], "wb", 1 << 20) as out:
    reader = csv.reader(source)
    next(reader)
    while chunk := list(itertools.islice(reader, 5000)):
        pieces = [lines.setdefault(tuple(row[1:]), line) for row in chunk]
        for start in range(0, len(pieces), 120):
            out.write(b"".join(pieces[start : start + 120]))
