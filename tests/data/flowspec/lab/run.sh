#!/bin/bash
# usage: run.sh FILE FROM TO  -- runs lines FROM..TO of FILE inside fsr-ctl, logging to cmdlog.txt
f=$1; from=$2; to=$3
sed -n "${from},${to}p" "$f" | while IFS= read -r line; do
  n=$(( $(grep -c '^\$ ' /tmp/fsr/cmdlog.txt 2>/dev/null || echo 0) + 1 ))
  t=$(date +%s.%N)
  out=$(timeout 10 ip netns exec fsr-ctl bash -c "$line" 2>&1); rc=$?
  printf '$ %s\n# cmd=%d t=%.6f rc=%d\n' "$line" "$n" "$t" "$rc" >> /tmp/fsr/cmdlog.txt
  if [ -n "$out" ]; then printf '%s\n' "$out" | sed 's/^/> /' >> /tmp/fsr/cmdlog.txt; fi
  sleep 1.5
done
