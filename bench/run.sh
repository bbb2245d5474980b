#!/usr/bin/env bash
echo "bench: not implemented yet" >&2
exit 1
