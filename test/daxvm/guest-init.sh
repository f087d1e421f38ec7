#!/bin/sh
# guest-init.sh - /init (PID 1) of the guest that run.sh boots; runs under busybox sh.
#
# Kernel command line: daxvm.phase=write|verify|cpucache; daxvm.fsdax=B and daxvm.devdax=B,
# the sizes in bytes of the NVDIMM to make fsdax and of the one to make devdax;
# for write daxvm.crashsecs=S and
# daxvm.crashmode=on|emulated; for verify daxvm.acked=N (the highest key the crash
# writer acknowledged, -1 for none).
#
# It loads the NVDIMM, DAX and ext4 modules; in the write phase converts the two
# label-less (raw) namespaces into fsdax and devdax through sysfs, as
# `ndctl create-namespace -m fsdax|devdax` would, and makes an ext4 on the fsdax one
# (both persist in the backing files, so the verify phase finds them converted);
# mounts it -o dax; runs the checks of its phase listed in /checks; and powers off.
# The write phase ends with the crash check: a writer in the background, cut off by a
# power-off without sync or umount.
#
# To the host, on the console (ttyS0):
#   DAXVM CHECK <name> PASS|FAIL <seconds>s [reason]
#   DAXVM LOG <name> <line of the test's output>
#   DAXVM CRASH <name> writer-running        (just before the power cut)
#   DAXVM <anything else>                    (setup information)
# The crash writer's output (its "ACK <i>" lines) goes to the second port, ttyS1.

export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /tmp /mnt/dax
mount -t tmpfs -o size=256m tmpfs /tmp

ND=/sys/bus/nd/devices
SETUP_ERR=

say() { echo "DAXVM $*"; }
now() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
setup_error() { say "SETUP FAIL $*"; SETUP_ERR="${SETUP_ERR:+$SETUP_ERR; }$*"; }

# wait_for <tenths of a second> <command...>: polls until the command succeeds.
wait_for() {
	n=$1; shift
	while ! "$@" 2>/dev/null; do
		[ "$n" -gt 0 ] || return 1
		n=$((n - 1)); sleep 0.1
	done
}

PHASE='' FSDAX_BYTES='' DEVDAX_BYTES='' ACKED=-1 CRASHSECS=3 CRASHMODE=on
for w in $(cat /proc/cmdline); do
	case $w in
	daxvm.phase=*) PHASE=${w#*=} ;;
	daxvm.fsdax=*) FSDAX_BYTES=${w#*=} ;;
	daxvm.devdax=*) DEVDAX_BYTES=${w#*=} ;;
	daxvm.acked=*) ACKED=${w#*=} ;;
	daxvm.crashsecs=*) CRASHSECS=${w#*=} ;;
	daxvm.crashmode=*) CRASHMODE=${w#*=} ;;
	esac
done
say "kernel $(uname -r) phase=$PHASE uptime=$(now)"

# ---------------------------------------------------------------- NVDIMMs
while read -r m; do
	out=$(insmod "/lib/modules/$m" 2>&1) || setup_error "insmod $m: $out"
done </lib/modules/load-order

two_namespaces() { [ "$(ls -d "$ND"/namespace*.0 | wc -l)" -ge 2 ]; }
wait_for 100 two_namespaces || setup_error "the two NVDIMM namespaces did not appear"

# Region numbers do not follow QEMU's -device order: tell the NVDIMMs apart by size.
FSR='' DDR=''
for ns in "$ND"/namespace*.0; do
	r=${ns##*namespace}; r=${r%.0}
	case $(cat "$ns/size") in
	"$FSDAX_BYTES") FSR=$r ;;
	"$DEVDAX_BYTES") DDR=$r ;;
	esac
done

bound() { [ -e "$ND/namespace$1.0/driver" ]; }

# convert <region> <pfn|dax> <driver>: a raw namespace (no struct pages, so no DAX)
# becomes fsdax (pfn) or devdax (dax). The info block written into the namespace keeps
# the conversion across boots. The memmap lives on the device (mode=pmem), 2 MiB aligned.
convert() {
	ns=namespace$1.0
	wait_for 50 bound "$1" || { setup_error "$ns never bound to nd_pmem"; return; }
	mode=$(cat "$ND/$ns/mode")
	[ "$mode" = raw ] || { setup_error "$ns is $mode in a fresh NVDIMM, want raw"; return; }
	echo "$ns" >/sys/bus/nd/drivers/nd_pmem/unbind
	seed=$(cat "$ND/region$1/$2_seed")
	cat /proc/sys/kernel/random/uuid >"$ND/$seed/uuid"
	echo pmem >"$ND/$seed/mode"
	echo 2097152 >"$ND/$seed/align"
	echo "$ns" >"$ND/$seed/namespace"
	echo "$seed" >"/sys/bus/nd/drivers/$3/bind" || setup_error "binding $seed to $3 failed"
	say "converted $ns to $seed ($3)"
}

if [ -z "$FSR" ] || [ -z "$DDR" ]; then
	setup_error "no namespaces of $FSDAX_BYTES and $DEVDAX_BYTES bytes: $(cat "$ND"/namespace*.0/size | tr '\n' ' ')"
elif [ "$PHASE" = write ]; then
	convert "$FSR" pfn nd_pmem
	convert "$DDR" dax dax_pmem
fi

fsdax_block() { b=$(ls "$ND/$(cat "$ND/namespace$FSR.0/holder")/block") && [ -b "/dev/$b" ] && echo "/dev/$b"; }
devdax_char() { d=$(ls /sys/bus/dax/devices/) && [ -n "$d" ] && [ -c "/dev/$d" ] && echo "/dev/$d"; }
wait_for 100 fsdax_block >/dev/null || setup_error "no fsdax block device on namespace$FSR.0 ($(cat "$ND/namespace$FSR.0/mode"))"
wait_for 100 devdax_char >/dev/null || setup_error "no device DAX on namespace$DDR.0 ($(cat "$ND/namespace$DDR.0/mode"))"
PMEM=$(fsdax_block) DAXDEV=$(devdax_char)
say "fsdax=$PMEM devdax=$DAXDEV"

if [ -n "$PMEM" ]; then
	# busybox sh prefers its own applets: call the host's mke2fs by path.
	if [ "$PHASE" = write ]; then
		out=$(/sbin/mke2fs -q -F -t ext4 -b 4096 "$PMEM" 2>&1) || setup_error "mke2fs: $out"
	fi
	out=$(mount -t ext4 -o dax "$PMEM" /mnt/dax 2>&1) || setup_error "mount -o dax $PMEM: $out"
	grep -q " /mnt/dax .*dax" /proc/mounts || setup_error "/mnt/dax is not mounted with dax: $(grep /mnt/dax /proc/mounts)"
fi
say "mounts: $(grep -E ' /tmp | /mnt/dax ' /proc/mounts | tr '\n' ';')"
say "setup done uptime=$(now)"

# ---------------------------------------------------------------- checks
export DAXVM_GUEST=1 DAXVM_PHASE="$PHASE" DAXVM_DAXDIR=/mnt/dax DAXVM_TMPDIR=/tmp DAXVM_DEVDAX="$DAXDEV" DAXVM_PMEM="$PMEM" DAXVM_ACKED="$ACKED" TMPDIR=/tmp

gotest() { # gotest <test> <timeout>: runs one test of the guest test binary
	/bin/guest.test -test.run "^$1\$" -test.v -test.count=1 -test.timeout="$2" </dev/null
}

# reason <out file> <test> <exit status>: why a test failed, in one line. Tests log
# informational lines with an "info: " prefix, so the first other log line is the failure.
reason() {
	msg=$(grep -E '^ +[A-Za-z0-9_]+\.go:[0-9]+: ' "$1" | grep -v '\.go:[0-9]*: info: ' | head -n 1)
	if grep -q 'no tests to run' "$1"; then
		r="the test binary has no test $2"
	elif grep -q "^--- SKIP: $2 " "$1"; then
		r="skipped: $msg"
	elif [ -n "$msg" ]; then
		r=$msg
	elif grep -q '^panic: ' "$1"; then
		r=$(grep -m 1 '^panic: ' "$1")
	else
		r="exit status $3: $(tail -n 1 "$1")"
	fi
	[ -n "$SETUP_ERR" ] && r="setup: $SETUP_ERR; $r"
	echo "$r" | sed 's/^ *//' | cut -c 1-300
}

run_check() { # run_check <name> <test>
	t0=$(now)
	gotest "$2" 90s >"/tmp/out.$1" 2>&1
	rc=$?
	dt=$(since "$t0")
	sed "s/^/DAXVM LOG $1 /" "/tmp/out.$1"
	if [ $rc = 0 ] && grep -q "^--- PASS: $2 " "/tmp/out.$1"; then
		say "CHECK $1 PASS ${dt}s"
	else
		say "CHECK $1 FAIL ${dt}s $(reason "/tmp/out.$1" "$2" $rc)"
	fi
}

# crash_check <name> <test>: starts the writer, lets it acknowledge writes for
# CRASHSECS seconds and cuts the power under it: no sync, no umount.
crash_check() {
	DAXVM_CRASH=write DAXVM_CRASH_MODE=$CRASHMODE gotest "$2" 0 >/dev/ttyS1 2>&1 &
	pid=$!
	sleep "$CRASHSECS"
	if kill -0 $pid 2>/dev/null; then
		say "CRASH $1 writer-running uptime=$(now)"
		sleep 0.3 # lets the console line out; the writer keeps writing
		kill -0 $pid 2>/dev/null && poweroff -n -f
	fi
	wait $pid
	say "CHECK $1 FAIL ${CRASHSECS}s the writer stopped before the power cut (exit status $?; its output is on the second serial port)"
}

while read -r phase kind name test; do
	[ "$phase" = "$PHASE" ] || continue
	case $kind in
	test) run_check "$name" "$test" ;;
	crash) crash_check "$name" "$test" ;;
	esac
done </checks

dmesg | grep -iE 'ext4|dax|pmem|nvdimm|nfit' | grep -v 'line:' | tail -n 20 | sed 's/^/DAXVM dmesg: /'
umount /mnt/dax 2>/dev/null
sync
say "done uptime=$(now)"
poweroff -f
