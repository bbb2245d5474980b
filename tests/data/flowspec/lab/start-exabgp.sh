#!/bin/sh
# foreground, non-interactive, root-owned helper process, no CLI fifos needed
exec ip netns exec fsr-edge env \
  exabgp.daemon.user=root \
  exabgp.daemon.daemonize=false \
  exabgp.api.cli=false \
  exabgp.log.destination=stdout \
  exabgp /tmp/fsr/exabgp.conf
