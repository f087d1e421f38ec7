#!/bin/bash
# digest.sh CMD [ARGS...] runs CMD with its output shown as it comes and
# kept; when CMD fails, it prints again, last, the lines that say why: each
# "--- FAIL", "panic:", "fatal error:", "unexpected fault address" and
# race report with the lines after it. A goroutine dump of thousands of
# lines otherwise pushes the cause out of any tail of the log that CI keeps.
# The exit status is CMD's.
set -u
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if [ "$rc" -ne 0 ]; then
	echo
	echo "=== why it failed (digest of the log above; exit status $rc) ==="
	grep -n -A 25 -m 12 -E '^(--- FAIL|panic:|fatal error:|unexpected fault address|WARNING: DATA RACE|SIG[A-Z]+:|runtime: |FAIL	)' "$log" | cut -c1-300 | head -n 400
	echo "=== end of digest ==="
fi
exit "$rc"
