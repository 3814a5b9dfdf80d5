#!/usr/bin/env python3
"""Write examples/logits.npy: 8 rows x 1000 float32 logits from a fixed seed.

Each row is normal noise with standard deviation 3 plus 3 columns raised by 8
to 14, so that a few tokens dominate, as in the logits of a language model.
Needs only the Python standard library, so it runs without NumPy:

    python3 scripts/make_logits.py [OUTPUT]
"""

import random
import struct
import sys

ROWS = 8
COLUMNS = 1000
SEED = 20240601
FAVOURED_PER_ROW = 3


def make_rows():
    generator = random.Random(SEED)
    rows = []
    for _ in range(ROWS):
        row = [generator.gauss(0.0, 3.0) for _ in range(COLUMNS)]
        for column in generator.sample(range(COLUMNS), FAVOURED_PER_ROW):
            row[column] += generator.uniform(8.0, 14.0)
        rows.append(row)
    return rows


def npy_bytes(rows):
    """Encode rows as a version 1.0 .npy file of '<f4', data aligned to 64 bytes."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (
        len(rows), len(rows[0]))
    unpadded = 10 + len(header) + 1
    header += " " * ((64 - unpadded % 64) % 64) + "\n"
    prefix = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("ascii")
    data = b"".join(struct.pack("<%df" % len(row), *row) for row in rows)
    return prefix + data


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "examples/logits.npy"
    with open(path, "wb") as output:
        output.write(npy_bytes(make_rows()))


if __name__ == "__main__":
    main()
