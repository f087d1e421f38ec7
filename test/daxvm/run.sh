#!/usr/bin/env bash
# run.sh - daxkv's real-DAX test harness (`make test-dax`).
#
# Boots a throwaway QEMU guest with two emulated, file-backed NVDIMMs, turns them into
# fsdax (ext4 mounted -o dax) and device DAX (/dev/daxX.Y), and runs the test binary
# of ./test/daxvm/guest inside it; then powers the guest off in the middle of a stream
# of acknowledged writes and boots it again on the same backing files to check that
# every acknowledged write survived. README.md beside this file says what it proves.
#
# Output: one line per check, "dax-guest: PASS <check>" or "dax-guest: FAIL <check>: <reason>",
# then "dax-guest: PASS checks=N" (exit 0) or "dax-guest: FAIL passed=P failed=F" (exit 1).
# Progress lines start with "daxvm:".
#
# Needs: Debian 12 amd64 (or close), Go on PATH, root only to apt-get install what is missing.
# Environment (all optional):
#   DAXVM_CACHE          cache of the guest kernel, busybox and initramfs base
#                        (default ${XDG_CACHE_HOME:-$HOME/.cache}/daxkv-daxvm; delete it to refresh)
#   DAXVM_ACCEL          QEMU accelerator, tcg (default) or kvm
#   DAXVM_BOOT_TIMEOUT   seconds allowed for one boot (default 100)
#   DAXVM_CRASH_SECS     seconds the crash writer acknowledges writes before the power cut (default 3)
#   DAXVM_MIN_ACKS       acknowledged writes the crash check needs at least (default 100)
#   DAXVM_CRASH_MODE     on (default) or emulated: the crash writer then skips MAP_SYNC, and
#                        crash-recover is expected to FAIL (shows that the check can fail)
#   DAXVM_KEEP           1 keeps the work directory even when every check passes
set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${DAXVM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/daxkv-daxvm}
ACCEL=${DAXVM_ACCEL:-tcg}
BOOT_TIMEOUT=${DAXVM_BOOT_TIMEOUT:-100}
CRASH_SECS=${DAXVM_CRASH_SECS:-3}
MIN_ACKS=${DAXVM_MIN_ACKS:-100}
CRASH_MODE=${DAXVM_CRASH_MODE:-on}
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
export PATH=$PATH:/usr/sbin:/sbin

# The checks, in the order they run: boot ("write" = first boot, "verify" = the boot
# after the power cut), kind ("test" runs to completion; "crash" runs in the background
# until the power cut, which ends the boot), check name, the test in ./test/daxvm/guest.
# The guest's /init reads this table from the initramfs; nothing else lists the checks.
CHECKS="
write  test  dax-mount-kv           TestDAXOnMount
write  test  auto-picks-dax         TestAutoPicksDAX
write  test  switch-mode-online     TestSwitchModeOnDAX
write  test  auto-on-tmpfs          TestAutoOnTmpfs
write  test  daxon-on-tmpfs-refused TestDAXOnTmpfs
write  test  devdax-kv              TestDeviceDAX
write  test  media-adr              TestMediaMemoryController
write  test  badblocks              TestBadBlocks
write  crash crash-acked-writes     TestCrashWriter
verify test  crash-recover          TestCrashVerify
verify test  devdax-reboot          TestDeviceDAXReboot
cpucache test media-cpu-cache       TestMediaCPUCache
"

# Kernel modules the guest loads (dependencies are added from modules.dep). ext4 asks
# the crypto API for crc32c at mount time, which modules.dep does not record.
GUEST_MODULES="nfit nd_pmem dax_pmem device_dax crc32c_generic ext4"
# NVDIMM sizes in MiB. They tell the two apart in the guest (region numbers do not
# follow QEMU's -device order), so they must differ.
FSDAX_MIB=512 DEVDAX_MIB=128

T0=$EPOCHREALTIME TSTEP=$EPOCHREALTIME
usec() { local t=${1/./}; echo $((10#$t)); }
secs() { local d=$(( $(usec "$2") - $(usec "$1") )); printf '%d.%d' $((d / 1000000)) $((d % 1000000 / 100000)); }
step() { # step "what": a progress line with the time since the previous one
	printf 'daxvm: %-34s %6ss (total %ss)\n' "$1" "$(secs "$TSTEP" "$EPOCHREALTIME")" "$(secs "$T0" "$EPOCHREALTIME")"
	TSTEP=$EPOCHREALTIME
}

# The work directory (backing files, serial logs, initramfs) goes when every check
# passed; otherwise finish prints where it is.
W=$(mktemp -d "${TMPDIR:-/tmp}/daxkv-daxvm.XXXXXX")
KEEP=${DAXVM_KEEP:-0}
# shellcheck disable=SC2317 # called by the trap
cleanup() { [ "$KEEP" = 1 ] || rm -rf "$W"; }
trap cleanup EXIT
# A command that fails outside the checks (set -e) still ends with a verdict.
trap 'trap - ERR; setup_failed "harness error at line $LINENO: $BASH_COMMAND"' ERR

# ---------------------------------------------------------------- results
declare -A RESULT REASON GTIME
NAMES=$(awk 'NF {print $3}' <<<"$CHECKS")
pass() { [ -n "${RESULT[$1]:-}" ] || RESULT[$1]=PASS; }
fail() { [ -n "${RESULT[$1]:-}" ] || { RESULT[$1]=FAIL; REASON[$1]=$2; }; }

# finish prints the verdict of every check and exits; checks without one fail with $1.
finish() {
	local name passed=0 failed=0
	trap - ERR
	for name in $NAMES; do
		fail "$name" "${1:-no result from the guest}"
		if [ "${RESULT[$name]}" = PASS ]; then
			echo "dax-guest: PASS $name"; passed=$((passed + 1))
		else
			echo "dax-guest: FAIL $name: ${REASON[$name]}"; failed=$((failed + 1))
		fi
	done
	[ "$failed" -eq 0 ] || { report_failures; KEEP=1; }
	[ "$KEEP" = 1 ] && echo "daxvm: work directory kept: $W"
	if [ "$failed" -gt 0 ]; then
		echo "dax-guest: FAIL passed=$passed failed=$failed"
		exit 1
	fi
	echo "dax-guest: PASS checks=$passed"
	exit 0
}

# report_failures prints what the guest said about each failed check and every check's time.
report_failures() {
	local name log
	for name in $NAMES; do
		[ "${RESULT[$name]}" = FAIL ] || continue
		for log in "$W"/boot-*-console.log; do
			[ -f "$log" ] || continue
			tr -d '\r' <"$log" | awk -v n="$name" '$1 == "DAXVM" && $2 == "LOG" && $3 == n { $1 = $2 = $3 = ""; print "daxvm:   " n " |" substr($0, 4) }'
		done
	done
	echo "daxvm: guest time per check:"
	for name in $NAMES; do
		printf 'daxvm:   %-24s %s\n' "$name" "${GTIME[$name]:-not run}"
	done
	for log in "$W"/boot-*-console.log; do
		[ -f "$log" ] || continue
		echo "daxvm: last lines of $(basename "$log"):"
		tr -d '\r' <"$log" | grep -av '^DAXVM LOG ' | tail -n 15 | sed 's/^/daxvm:   /'
	done
}

# setup_failed ends the run when no guest can be booted: every check fails with the reason.
setup_failed() {
	echo "daxvm: setup failed: $1"
	finish "$1"
}

# ---------------------------------------------------------------- host packages
APT_UPDATED=0
apt_update() {
	[ "$APT_UPDATED" = 1 ] && return 0
	apt-get update -qq >>"$W/apt.log" 2>&1 || setup_failed "apt-get update failed (see $W/apt.log)"
	APT_UPDATED=1
}

install_missing() {
	local pkgs=()
	command -v qemu-system-x86_64 >/dev/null || pkgs+=(qemu-system-x86)
	command -v depmod >/dev/null || pkgs+=(kmod)
	command -v mke2fs >/dev/null || pkgs+=(e2fsprogs)
	command -v xz >/dev/null || pkgs+=(xz-utils)
	command -v dpkg-deb >/dev/null || setup_failed "dpkg-deb not found: this harness needs a Debian host"
	command -v go >/dev/null || setup_failed "go not found on PATH"
	[ ${#pkgs[@]} -eq 0 ] && return 0
	[ "$(id -u)" = 0 ] || setup_failed "missing ${pkgs[*]}: run as root or install them"
	apt_update
	# Docker-style images delete the downloaded .debs after every dpkg run; when apt
	# needs several dpkg runs the later ones fail with "cannot access archive". A
	# second try downloads them again.
	apt-get install -y -qq --no-install-recommends "${pkgs[@]}" </dev/null >>"$W/apt.log" 2>&1 ||
		apt-get install -y -qq --no-install-recommends "${pkgs[@]}" </dev/null >>"$W/apt.log" 2>&1 ||
		setup_failed "apt-get install ${pkgs[*]} failed (see $W/apt.log)"
	step "apt-get install ${pkgs[*]}"
}

# ---------------------------------------------------------------- guest kit (cached)
# $CACHE/kit holds what is downloaded: the kernel, busybox, the guest's modules in load
# order. It is rebuilt when missing, when GUEST_MODULES changes or when KIT_FORMAT (the
# layout of the kit) does.
KIT=$CACHE/kit
KIT_FORMAT=2

module_load_order() { # $1=unpacked root, $2=kernel version: module paths, dependencies first
	local dep=$1/lib/modules/$2/modules.dep
	awk -v want="$GUEST_MODULES" '
		{ sub(":", "", $1); path[$1] = $0; n = split($1, p, "/"); name = p[n]; sub(/\.ko(\.[a-z]+)?$/, "", name); gsub("-", "_", name); byname[name] = $1 }
		function load(f,    i, k, d) {
			if (f in done) return
			done[f] = 1
			k = split(path[f], d, " ")
			for (i = k; i >= 2; i--) load(d[i])   # the deepest dependency is listed last
			print f
		}
		END {
			n = split(want, w, " ")
			for (i = 1; i <= n; i++) {
				if (!(w[i] in byname)) { print "missing module " w[i] > "/dev/stderr"; exit 1 }
				load(byname[w[i]])
			}
		}' "$dep"
}

# extract_vmlinux <bzImage> <config> <out>: under TCG, unpacking the compressed
# kernel takes the guest 8 s or more. QEMU boots the uncompressed ELF kernel directly
# through its PVH entry point, so unpack it once on the host. The payload's place is
# in the bzImage header (x86 boot protocol 2.08+: setup_sects at 0x1f1,
# payload_offset at 0x248). On any doubt, leave no vmlinux: the bzImage still boots.
extract_vmlinux() {
	local img=$1 off magic
	grep -q '^CONFIG_PVH=y' "$2" || return 0
	off=$(( ($(od -An -tu1 -j $((0x1f1)) -N1 "$img") + 1) * 512 + $(od -An -tu4 -j $((0x248)) -N4 "$img") ))
	magic=$(od -An -tx1 -j "$off" -N4 "$img" | tr -d ' ')
	case $magic in
	fd377a58) tail -c +$((off + 1)) "$img" | xz -dc --single-stream >"$3" 2>/dev/null || true ;;
	1f8b*) tail -c +$((off + 1)) "$img" | gzip -dc >"$3" 2>/dev/null || true ;;
	28b52ffd) tail -c +$((off + 1)) "$img" | zstd -qdc >"$3" 2>/dev/null || true ;;
	esac
	if [ ! -s "$3" ] || [ "$(od -An -c -N4 "$3" | tr -d ' ')" != '177ELF' ]; then
		rm -f "$3"
	fi
}

build_kit() {
	apt_update
	local kpkg kroot="$W/kroot" kv f new="$KIT.new.$$"
	kpkg=$(apt-cache depends linux-image-amd64 2>>"$W/apt.log" | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	[ -n "$kpkg" ] || setup_failed "cannot tell which kernel linux-image-amd64 depends on (see $W/apt.log)"
	mkdir -p "$W/debs" "$kroot"
	(cd "$W/debs" && apt-get download -qq "$kpkg" busybox-static </dev/null >>"$W/apt.log" 2>&1) ||
		setup_failed "apt-get download $kpkg busybox-static failed (see $W/apt.log)"
	for f in "$W"/debs/*.deb; do dpkg-deb -x "$f" "$kroot"; done
	kv=$(ls "$kroot/lib/modules")
	depmod -b "$kroot" "$kv"
	rm -rf "$new"; mkdir -p "$new/modules"
	cp "$kroot/boot/vmlinuz-$kv" "$new/vmlinuz"
	cp "$kroot/boot/config-$kv" "$new/config"
	extract_vmlinux "$new/vmlinuz" "$new/config" "$new/vmlinux"
	f=$kroot/bin/busybox
	[ -x "$f" ] || f=$kroot/usr/bin/busybox
	[ -x "$f" ] || setup_failed "busybox-static has no bin/busybox"
	cp "$f" "$new/busybox"
	module_load_order "$kroot" "$kv" >"$W/load-order" || setup_failed "kernel $kv lacks a module the guest needs"
	while read -r f; do
		local base=${f##*/}
		case $f in
		*.ko) cp "$kroot/lib/modules/$kv/$f" "$new/modules/$base" ;;
		*.ko.xz) xz -dc "$kroot/lib/modules/$kv/$f" >"$new/modules/${base%.xz}"; base=${base%.xz} ;;
		*.ko.zst) zstd -qdc "$kroot/lib/modules/$kv/$f" >"$new/modules/${base%.zst}"; base=${base%.zst} ;;
		*) setup_failed "unexpected module file $f" ;;
		esac
		echo "$base" >>"$new/modules/load-order"
	done <"$W/load-order"
	echo "$kv" >"$new/kernel-version"
	echo "$kpkg" >"$new/kernel-package"
	echo "$KIT_FORMAT $GUEST_MODULES" >"$new/format"
	rm -rf "$KIT" "$kroot" "$W/debs"
	mv "$new" "$KIT"
	step "kernel $kv + busybox (download)"
}

ensure_kit() {
	mkdir -p "$CACHE"
	if [ -f "$KIT/vmlinuz" ] && [ -x "$KIT/busybox" ] && [ -f "$KIT/modules/load-order" ] &&
		[ "$(cat "$KIT/format" 2>/dev/null)" = "$KIT_FORMAT $GUEST_MODULES" ]; then
		return 0
	fi
	build_kit
}

# The initramfs is two concatenated cpio archives: a cached base (busybox, modules,
# the host's mke2fs: busybox's cannot make ext4) and one per run (/init, the check
# table, the test binary). Both stay uncompressed: decompressing costs the emulated
# guest more than copying.
BASE=
build_base() {
	local mke2fs key lib d
	mke2fs=$(command -v mke2fs)
	key=$( { echo "$KIT_FORMAT"; cat "$KIT/kernel-package" "$KIT/modules/load-order"; sha256sum "$KIT/busybox" "$mke2fs"; } | sha256sum | cut -c1-16)
	BASE=$CACHE/initramfs-base-$key.cpio
	[ -f "$BASE" ] && return 0
	d=$W/base
	rm -rf "$d"; mkdir -p "$d"/{bin,sbin,etc,proc,sys,dev,tmp,mnt,lib/modules,lib64,lib/x86_64-linux-gnu}
	cp "$KIT/busybox" "$d/bin/busybox"
	for a in $("$KIT/busybox" --list); do
		case $a in busybox | mke2fs | mkfs.ext2) ;; *) ln -sf busybox "$d/bin/$a" ;; esac
	done
	cp "$KIT"/modules/* "$d/lib/modules/"
	cp "$mke2fs" "$d/sbin/mke2fs"
	for lib in $(ldd "$mke2fs" 2>/dev/null | grep -o '/[^ ]*'); do
		mkdir -p "$d$(dirname "$lib")"; cp -L "$lib" "$d$lib"
	done
	[ -f /etc/mke2fs.conf ] && cp /etc/mke2fs.conf "$d/etc/"
	rm -f "$CACHE"/initramfs-base-*
	(cd "$d" && find . | "$KIT/busybox" cpio -o -H newc >"$BASE.tmp.$$" 2>/dev/null)
	mv "$BASE.tmp.$$" "$BASE"
	rm -rf "$d"
	step "initramfs base (cached)"
}

build_guest() {
	local d=$W/run
	mkdir -p "$d/bin"
	(cd "$ROOT" && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go test -c -trimpath -o "$d/bin/guest.test" ./test/daxvm/guest) \
		>"$W/go-build.log" 2>&1 || { sed 's/^/daxvm:   /' "$W/go-build.log"; setup_failed "go test -c ./test/daxvm/guest failed"; }
	cp "$HERE/guest-init.sh" "$d/init"
	chmod 755 "$d/init"
	awk 'NF' <<<"$CHECKS" >"$d/checks"
	(cd "$d" && find . | "$KIT/busybox" cpio -o -H newc >"$W/run.cpio" 2>/dev/null)
	cat "$BASE" "$W/run.cpio" >"$W/initramfs.cpio"
	step "guest test binary + initramfs"
}

# ---------------------------------------------------------------- boots
boot() { # $1=phase, $2...=extra kernel parameters; the serial logs land in $W/boot-$1-*.log
	local phase=$1 cpu=max rc=0 kernel=$KIT/vmlinux machine=pc,nvdimm=on,nvdimm-persistence=mem-ctrl
	# QEMU declares the NVDIMMs' persistence domain in the NFIT: the memory
	# controller (ADR) in the first boots, the CPU cache (like eADR) in the
	# cpucache boot; the kernel reports it as persistence_domain.
	[ "$phase" = cpucache ] && machine=pc,nvdimm=on,nvdimm-persistence=cpu
	[ -f "$kernel" ] || kernel=$KIT/vmlinuz
	shift
	: >"$W/boot-$phase-console.log"; : >"$W/boot-$phase-acks.log"
	[ "$ACCEL" = kvm ] && cpu=host # under TCG, -cpu max is what exposes CLWB/CLFLUSHOPT
	timeout -k 5 "$BOOT_TIMEOUT" qemu-system-x86_64 -accel "$ACCEL" -cpu "$cpu" -smp 1 \
		-machine "$machine" -m 1G,slots=2,maxmem=3G \
		-object "memory-backend-file,id=pm0,share=on,mem-path=$W/fsdax.img,size=${FSDAX_MIB}M" -device nvdimm,id=nv0,memdev=pm0 \
		-object "memory-backend-file,id=pm1,share=on,mem-path=$W/devdax.img,size=${DEVDAX_MIB}M" -device nvdimm,id=nv1,memdev=pm1 \
		-kernel "$kernel" -initrd "$W/initramfs.cpio" \
		-append "console=ttyS0 panic=-1 loglevel=4 daxvm.phase=$phase daxvm.fsdax=$((FSDAX_MIB << 20)) daxvm.devdax=$((DEVDAX_MIB << 20)) $*" \
		-nodefaults -display none -monitor none -no-reboot \
		-serial "file:$W/boot-$phase-console.log" -serial "file:$W/boot-$phase-acks.log" \
		</dev/null >"$W/boot-$phase-qemu.log" 2>&1 || rc=$?
	BOOT_RC=$rc
	step "boot $phase (qemu exit $rc)"
}

# collect reads the verdicts of one boot from its console log:
#   DAXVM CHECK <name> PASS|FAIL <seconds>s [reason]
collect() { # $1=phase
	local log=$W/boot-$1-console.log name verdict t reason
	[ -f "$log" ] || return 0
	while read -r name verdict t reason; do
		GTIME[$name]=$t
		if [ "$verdict" = PASS ]; then pass "$name"; else fail "$name" "${reason:-failed}"; fi
	done < <(tr -d '\r' <"$log" | awk '$1 == "DAXVM" && $2 == "CHECK" { $1 = $2 = ""; print substr($0, 3) }')
}

boot_failed_reason() { # $1=phase
	case $BOOT_RC in
	0) echo "boot $1 ended before this check ran" ;;
	124 | 137) echo "boot $1 timed out after ${BOOT_TIMEOUT}s" ;;
	*) echo "qemu exited $BOOT_RC in boot $1 ($(tail -n 1 "$W/boot-$1-qemu.log" 2>/dev/null | tr -d '\r'))" ;;
	esac
}

# ---------------------------------------------------------------- main
cd "$W"
install_missing
ensure_kit
build_base
build_guest

truncate -s "${FSDAX_MIB}M" "$W/fsdax.img"   # sparse and label-less: the guest converts them
truncate -s "${DEVDAX_MIB}M" "$W/devdax.img"

boot write "daxvm.crashsecs=$CRASH_SECS daxvm.crashmode=$CRASH_MODE"
collect write
crash=$(awk '$1 == "write" && $2 == "crash" { print $3 }' <<<"$CHECKS")
ACKED=$(tr -d '\r' <"$W/boot-write-acks.log" 2>/dev/null | awk '/^ACK [0-9]+$/ { n++; if ($2 + 0 > max) max = $2 + 0 } END { if (n) print max }')
if ! tr -d '\r' <"$W/boot-write-console.log" 2>/dev/null | grep -aq "^DAXVM CRASH $crash writer-running"; then
	fail "$crash" "$(boot_failed_reason write): no power cut under a running writer"
elif [ -z "$ACKED" ]; then
	fail "$crash" "the writer acknowledged no write ($(tr -d '\r' <"$W/boot-write-acks.log" | grep -av '^ACK ' | grep -a . | tail -n 1))"
elif [ "$ACKED" -lt "$MIN_ACKS" ]; then
	fail "$crash" "only $((ACKED + 1)) writes acknowledged before the power cut, want $MIN_ACKS"
else
	GTIME[$crash]="${CRASH_SECS}s"
	pass "$crash"
	echo "daxvm: power cut after $((ACKED + 1)) acknowledged writes (keys 0..$ACKED)"
fi
for name in $(awk '$1 == "write" { print $3 }' <<<"$CHECKS"); do fail "$name" "$(boot_failed_reason write)"; done

boot verify "daxvm.acked=${ACKED:--1}"
collect verify
for name in $(awk '$1 == "verify" { print $3 }' <<<"$CHECKS"); do fail "$name" "$(boot_failed_reason verify)"; done

boot cpucache
collect cpucache
for name in $(awk '$1 == "cpucache" { print $3 }' <<<"$CHECKS"); do fail "$name" "$(boot_failed_reason cpucache)"; done

step "done"
finish
