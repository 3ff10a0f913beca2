"""The batch floor: a plain csv-module copy of a file.  python csv_copy.py INPUT OUTPUT"""

import csv
import sys

with (
    open(sys.argv[1], newline="") as source,
    open(sys.argv[2], "w", newline="") as target,
):
    writer = csv.writer(target)
    for row in csv.reader(source):
        writer.writerow(row)
