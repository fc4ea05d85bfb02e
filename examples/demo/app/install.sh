#!/bin/sh
# Stands in for a dependency build: unpack and checksum something sizeable.
set -e
mkdir -p /opt/deps
i=0
while [ "$i" -lt "${DEMO_WORK:-20}" ]; do
	head -c 1048576 /dev/urandom > "/opt/deps/blob-$i"
	sha256sum "/opt/deps/blob-$i" >> /opt/deps/SUMS
	i=$((i + 1))
done
cp /app/deps.txt /opt/deps/deps.txt
