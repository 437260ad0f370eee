#!/bin/sh
# vhost-null: starts, refuses a second instance on the same socket, stops on SIGTERM
# and removes its socket.
: "${top_builddir:=.}"
bin="$top_builddir/examples/vhost-null"
sock="/tmp/vk-null-$$.sock"
echo "1..4"
"$bin" --socket-path="$sock" & pid=$!
# generous: the CI machine may be loaded
i=0; while [ ! -S "$sock" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
if [ -S "$sock" ]; then echo "ok 1 - listening"; else echo "not ok 1 - listening"; fi
# bounded: a second instance that wrongly starts serving must not hang the suite
if timeout 20 "$bin" --socket-path="$sock" 2>/dev/null; then echo "not ok 2 - second instance refused"; else echo "ok 2 - second instance refused"; fi
kill -TERM $pid
if wait $pid; then echo "ok 3 - clean exit on SIGTERM"; else echo "not ok 3 - clean exit on SIGTERM"; fi
if [ -e "$sock" ]; then echo "not ok 4 - socket removed"; rm -f "$sock"; else echo "ok 4 - socket removed"; fi
