#!/bin/sh
# Turns the stdlib files given as arguments into a C table of (module name, source)
# so the interpreter carries its Lua half inside the binary.
set -e
echo '#include "embedded.h"'
n=0
for f in "$@"; do
  echo "static const unsigned char file_$n[] = {"
  od -An -v -tx1 "$f" | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'
  echo "0x00};"
  n=$((n+1))
done
echo "const struct embedded_file embedded_files[] = {"
n=0
for f in "$@"; do
  base=$(basename "$f"); name=${base%.*}
  size=$(wc -c < "$f")
  echo "  {\"$name\", \"$base\", (const char *)file_$n, $size},"
  n=$((n+1))
done
echo "  {0, 0, 0, 0}"
echo "};"
