#!/usr/bin/env bash
# test-arm64.sh: cross-compile daxkv's test binaries for linux/arm64 and run
# them under qemu-user (qemu-aarch64-static), forcing the DC CVAC flush path.
# Run by `make test-arm64` (and so by `make test`). Non-interactive; installs
# Debian's qemu-user-static when qemu-aarch64-static is not on PATH (as root).
#
# Prints one summary line per package, then `arm64: PASS packages=N` or
# `arm64: FAIL ...`, and exits non-zero on any failure.
#
# What qemu-user (7.2, Debian 12) gets wrong, and how this script copes:
#
#   - DC CVAP raises SIGILL although the emulated CPU reports DCPOP:
#     DAXKV_FLUSH=cvac makes the flush package use DC CVAC.
#   - Guest page tracking costs host time and memory in proportion to the
#     size of every mapping, PROT_NONE reservations included: daxmap's
#     default 1 TiB address reservation takes about 30 s and 8 GiB of host
#     memory per Open, and the memory is not given back, so a test binary
#     that opens a few pools is killed by the OOM killer. QEMU_RESERVED_VA
#     gives the guest a small address space instead (like an arm64 kernel
#     with few VA bits): the kernel-side refusal of 1 TiB makes daxmap fall
#     back along its documented plan of halved sizes, and host memory stays
#     bounded. It must leave room for a few pools open at once (daxmap's
#     floor is 1 GiB each): 8G is just enough today, 16G leaves a margin.
#   - A SIGBUS from a truncated file mapping reaches the guest with si_addr
#     0, which the Go runtime reports as a nil dereference without the fault
#     address, so daxmap.Guard cannot turn it into ErrFault and re-panics.
#     The tests that truncate a mapped pool are not run here.
#   - mmap with MAP_FIXED accepts MAP_SHARED_VALIDATE|MAP_SYNC on any file
#     (tmpfs included) instead of failing with EOPNOTSUPP, so the pool looks
#     like DAX. The tests that check that MAP_SYNC is refused off DAX are
#     not run here.
#   - Without binfmt_misc the host kernel cannot execute an arm64 binary, so
#     kv's process-crash tests, which re-execute os.Args[0] as the child,
#     would fail with "exec format error". Each test binary is therefore run
#     through a host shell wrapper, and qemu's -0 option makes the guest's
#     argv[0] name that wrapper: the child goes through qemu too, with or
#     without binfmt.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

GO=${GO:-go}
QEMU='qemu-aarch64-static'
PKGS=(flush daxmap alloc recovery kv)
TEST_TIMEOUT=5m   # -test.timeout of each binary: a hang panics with stacks
KILL_AFTER=6m     # outer limit, should qemu itself hang
export DAXKV_FLUSH=cvac
export QEMU_RESERVED_VA=${QEMU_RESERVED_VA:-16G}

# Tests not run under qemu-user, per package, as a -test.skip pattern; the
# reasons are above.
declare -A SKIP=(
	[daxmap]='^(TestGuardTruncatedFile|TestSyncPolicy)$' # SIGBUS address; MAP_SYNC
	[recovery]='^(TestScanFaultIsAnError)$' # SIGBUS address
	[kv]='^(TestTruncatedUnderneath|TestIteratorKeyOnTruncatedPool|TestCheckFaultIsAnError|TestIndexBuildFaultIsAnError|TestFaultInAWriteFailsTheDB|TestCheckpointBuildIndexUnguarded|TestRepairFaultOnKeyIsReported|TestRepairFaultInValueLeavesNoOp|TestTurnaroundOnATruncatedPool|TestPreferredMode|TestSwitchModeOnline)$' # SIGBUS address (9); MAP_SYNC (2)
)

# KV_OWN: kv tests that run in a process of their own (unit kv-review).
# The guest's address space (QEMU_RESERVED_VA) also holds the Go heap,
# which never gives address space back: run with the rest, these tests'
# allocations left too little room for the 1 GiB reservation of a later
# test's pool ("cannot allocate memory"). The iterator tests at the end of
# the list came with a change after which the main unit failed so in two
# runs of `make test` out of two (and one standalone run of four), always
# in later tests that open two pools or more at once; they run here since.
KV_OWN='^(TestBatchShapesModel|TestBatchConcurrentPooled|TestHashTableReadersRaceGrowth|TestBatchNoSpaceMidBatch|TestOddMaxSize|TestNearFullRace|TestFilesystemFull|TestFilesystemFullSinglePut|TestFilesystemFullReopen|TestFilesystemFilledByOthers|TestIteratorLongWalks|TestLongWalkStopsAtABadRecord|TestTurnaroundReadsTheKeyUnderTheGuard|TestTurnaroundRacesDBClose|TestTurnaroundLongKeysModel|TestFaultGuardRecordShapes|TestIteratorStateAfterStops|TestIteratorsScansWritersThenClose)$'

say() { printf 'arm64: %s\n' "$*"; }
die() {
	say "FAIL $*"
	exit 1
}

# apt runs apt-get non-interactively, twice if it fails: some images delete
# the downloaded .debs between dpkg runs, and a second run fetches them again.
# Its output is shown only when both runs fail.
apt() {
	local out try
	out=$(mktemp)
	for try in 1 2; do
		if DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 \
			-o Dpkg::Use-Pty=0 "$@" >"$out" 2>&1; then
			rm -f "$out"
			return 0
		fi
		[ "$try" = 2 ] || say "apt-get $1 failed; trying once more"
	done
	cat "$out"
	rm -f "$out"
	return 1
}

# ensure_qemu installs Debian's qemu-user-static unless qemu-aarch64-static
# is already on PATH.
ensure_qemu() {
	command -v "$QEMU" >/dev/null 2>&1 && return 0
	[ "$(id -u)" = 0 ] || die "$QEMU not found; install qemu-user-static (needs root)"
	command -v apt-get >/dev/null 2>&1 || die "$QEMU not found and no apt-get to install it"
	say "installing qemu-user-static"
	apt update || die "apt-get update"
	apt install -y --no-install-recommends qemu-user-static || die "apt-get install qemu-user-static"
	command -v "$QEMU" >/dev/null 2>&1 || die "qemu-user-static installed no $QEMU"
}

tmp=
# cleanup ends the test processes still running (on an interrupt), then
# removes the temporary directory.
cleanup() {
	local f pids
	if [ -n "$tmp" ]; then
		for f in "$tmp"/pgid/*; do
			[ -f "$f" ] || continue
			kill -TERM -- "-$(cat "$f")" 2>/dev/null || true
		done
	fi
	mapfile -t pids < <(jobs -p)
	[ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true
	wait 2>/dev/null || true
	[ -z "$tmp" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ensure_qemu
setup_secs=$SECONDS
qemu=$(command -v "$QEMU")
say "$("$qemu" --version | sed -n 1p)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/daxkv-arm64.XXXXXX")
mkdir -p "$tmp/arm64" "$tmp/bin" "$tmp/work" "$tmp/tmp" "$tmp/log" "$tmp/status" "$tmp/pgid"

# 1. Cross-compile one test binary per package, with the invariant checks
# on as everywhere in `make test`.
if ! GOOS=linux GOARCH=arm64 CGO_ENABLED=0 "$GO" test -c -tags invariants \
	-o "$tmp/arm64/" "${PKGS[@]/#/./}" >"$tmp/log/build" 2>&1; then
	cat "$tmp/log/build"
	die "build"
fi
for pkg in "${PKGS[@]}"; do
	[ -x "$tmp/arm64/$pkg.test" ] || die "build: no test binary for $pkg"
	# The wrapper that the guest's os.Args[0] names (see above).
	# shellcheck disable=SC2016 # $0 and $@ are the wrapper's own
	printf '#!/bin/sh\nexec %q -0 "$0" %q "$@"\n' "$qemu" "$tmp/arm64/$pkg.test" >"$tmp/bin/$pkg.test"
	chmod +x "$tmp/bin/$pkg.test"
	# Each binary runs in its own scratch directory, with the package's
	# testdata (fuzz seed corpora) beside it.
	mkdir -p "$tmp/work/$pkg"
	[ ! -d "$pkg/testdata" ] || cp -R "$pkg/testdata" "$tmp/work/$pkg/"
done
build_secs=$((SECONDS - setup_secs))

# 2. Run. A unit is one run of one package's binary, named PKG or PKG-PART.
# kv's process-crash tests (each crash child is a second emulated process)
# are split into units of their own so that the two jobs finish close
# together; the longest units go first.
# kv's other tests run in two units, by the first letter of their name
# after Test (KV_LATE: P to Z), so that no process runs long enough to
# crowd the guest's address space (see KV_OWN).
units=(kv-points kv kv-late kv-crash kv-review daxmap alloc flush recovery)
KV_LATE='^Test[P-Z]'

# unit_pkg prints the package of a unit.
unit_pkg() { echo "${1%%-*}"; }

# run_unit runs one unit and records "rc seconds passed skipped failed".
run_unit() {
	local name=$1 pkg
	pkg=$(unit_pkg "$name")
	local args=(-test.short -test.v -test.timeout "$TEST_TIMEOUT")
	case $name in
	kv-points) args+=(-test.run '^TestProcessCrashAtPoints$') ;;
	kv-crash) args+=(-test.run '^TestProcessCrash$') ;;
	kv-review) args+=(-test.run "$KV_OWN") ;;
	kv) args+=(-test.skip "^TestProcessCrash|${SKIP[kv]}|$KV_OWN|$KV_LATE") ;;
	kv-late) args+=(-test.run "$KV_LATE" -test.skip "^TestProcessCrash|${SKIP[kv]}|$KV_OWN") ;;
	*) [ -z "${SKIP[$pkg]:-}" ] || args+=(-test.skip "${SKIP[$pkg]}") ;;
	esac
	local t0=$SECONDS rc=0 pid
	(
		cd "$tmp/work/$pkg"
		TMPDIR="$tmp/tmp" exec timeout -k 30s "$KILL_AFTER" "$tmp/bin/$pkg.test" "${args[@]}"
	) >"$tmp/log/$name" 2>&1 &
	pid=$!
	# timeout leads a process group of its own: cleanup ends it through that.
	echo "$pid" >"$tmp/pgid/$name"
	wait "$pid" || rc=$?
	local pass skip fail
	pass=$(grep -c '^--- PASS: ' "$tmp/log/$name" || true)
	skip=$(grep -c '^--- SKIP: ' "$tmp/log/$name" || true)
	fail=$(grep -c '^--- FAIL: ' "$tmp/log/$name" || true)
	echo "$rc $((SECONDS - t0)) $pass $skip $fail" >"$tmp/status/$name"
}

jobs=$(nproc 2>/dev/null || echo 1)
jobs=$((jobs < 2 ? 1 : 2))
say "running ${#units[@]} test binaries under $QEMU (jobs=$jobs, QEMU_RESERVED_VA=$QEMU_RESERVED_VA, DAXKV_FLUSH=$DAXKV_FLUSH); qemu setup ${setup_secs}s, build ${build_secs}s"
running=0
for unit in "${units[@]}"; do
	if ((running >= jobs)); then
		wait -n || true
		running=$((running - 1))
	fi
	run_unit "$unit" &
	running=$((running + 1))
done
wait || true

# 2b. A test that failed because the guest could not reserve address space
# for a pool is run once more, alone in a process of its own. That limit is
# this run's, not daxkv's: each pool reserves about half of the guest's free
# address space (daxmap's plan of halved sizes), and the guest's Go heap
# keeps what it took, so how many pools fit at once depends on what the
# process ran before (with QEMU_RESERVED_VA=5G, tests that pass alone fail
# in the shared process). Any other failure stands, and so does a test that
# fails again alone.
for unit in "${units[@]}"; do
	read -r rc _ <"$tmp/status/$unit" 2>/dev/null || continue
	[ "$rc" != 0 ] || continue
	grep -q 'bytes of address space: cannot allocate memory' "$tmp/log/$unit" || continue
	mapfile -t failed_tests < <(grep '^--- FAIL: ' "$tmp/log/$unit" | awk '{print $3}')
	[ ${#failed_tests[@]} -gt 0 ] || continue
	pkg=$(unit_pkg "$unit")
	retry_ok=1
	for name in "${failed_tests[@]}"; do
		# The test's own output: from its RUN line to its FAIL line.
		if ! sed -n "/^=== RUN   ${name}\$/,/^--- FAIL: ${name} /p" "$tmp/log/$unit" |
			grep -c 'bytes of address space: cannot allocate memory' >/dev/null; then
			retry_ok=0 # a failure of another kind
			break
		fi
		say "$unit: $name could not reserve address space; running it alone"
		if ! (
			cd "$tmp/work/$pkg"
			TMPDIR="$tmp/tmp" exec timeout -k 30s "$KILL_AFTER" "$tmp/bin/$pkg.test" \
				-test.short -test.v -test.timeout "$TEST_TIMEOUT" -test.run "^${name}\$"
		) >"$tmp/log/$unit-retry-$name" 2>&1; then
			retry_ok=0
			cat "$tmp/log/$unit-retry-$name"
			break
		fi
	done
	if [ "$retry_ok" = 1 ]; then
		read -r _ s p k f <"$tmp/status/$unit"
		echo "0 $s $((p + f)) $k 0" >"$tmp/status/$unit"
		say "$unit: passed alone: ${failed_tests[*]}"
	fi
done

# 3. Report: one line per package (kv's units together), then failing
# logs, then the verdict.
failed=()
for pkg in "${PKGS[@]}"; do
	rc_all=0 secs="" pass=0 skip=0 fail=0
	for unit in "${units[@]}"; do
		[ "$(unit_pkg "$unit")" = "$pkg" ] || continue
		if [ -f "$tmp/status/$unit" ]; then
			read -r rc s p k f <"$tmp/status/$unit"
		else
			rc=1 s=0 p=0 k=0 f=0
		fi
		[ "$rc" = 0 ] || rc_all=$rc
		secs+="${secs:+ + }${s}s"
		pass=$((pass + p)) skip=$((skip + k)) fail=$((fail + f))
	done
	verdict=ok
	if [ "$rc_all" != 0 ]; then
		verdict="FAIL (exit $rc_all)"
		failed+=("$pkg")
	fi
	notrun=""
	# shellcheck disable=SC2016 # regexp characters, not an expansion
	[ -z "${SKIP[$pkg]:-}" ] || notrun="; not run under qemu: $(tr -d '^$()' <<<"${SKIP[$pkg]}" | tr '|' ' ')"
	say "$(printf '%-8s %s  tests: %d ok, %d skipped, %d failed; %s%s' \
		"$pkg" "$verdict" "$pass" "$skip" "$fail" "$secs" "$notrun")"
done

for unit in "${units[@]}"; do
	read -r rc _ <"$tmp/status/$unit" 2>/dev/null || rc=1
	[ "$rc" = 0 ] && continue
	echo "----- $unit (exit $rc): output without passing tests -----"
	grep -Ev '^ *(=== (RUN|PAUSE|CONT|NAME)|--- PASS: )' "$tmp/log/$unit" || true
done

if [ ${#failed[@]} -gt 0 ]; then
	say "FAIL packages=${#PKGS[@]} failed=$(
		IFS=,
		echo "${failed[*]}"
	) (${SECONDS}s)"
	exit 1
fi
say "total ${SECONDS}s"
say "PASS packages=${#PKGS[@]}"
