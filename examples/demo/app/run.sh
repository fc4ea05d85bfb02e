#!/bin/sh
echo "running $APP"
cat /opt/before-setup.txt
