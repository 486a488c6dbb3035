#!/bin/sh
# Compiles the public header on its own: as C11 with -pedantic -Werror, and as C++ when available.
set -eu
header=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '#include "%s"\nint main(void) { return gk_strerror(GK_OK) == 0; }\n' "$header" > "$tmp/t.c"
cc -std=c11 -pedantic -Wall -Wextra -Werror -c "$tmp/t.c" -o "$tmp/t.o"
echo "ok: C11 -pedantic"
if command -v c++ >/dev/null 2>&1; then
    printf '#include "%s"\nint main() { return gk_strerror(GK_OK) == nullptr; }\n' "$header" > "$tmp/t.cc"
    c++ -std=c++11 -pedantic -Wall -Wextra -Werror -c "$tmp/t.cc" -o "$tmp/t2.o"
    echo "ok: C++11 -pedantic"
fi
