#!/usr/bin/python3
# Records every stdin line verbatim to $1 and "<epoch>\t<line>" to $2.
import sys, time
raw = open(sys.argv[1], 'a', buffering=1)
ts = open(sys.argv[2], 'a', buffering=1)
for line in sys.stdin:
    now = time.time()
    raw.write(line); raw.flush()
    ts.write('%.6f\t%s' % (now, line)); ts.flush()
