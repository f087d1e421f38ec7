// Package guest holds the tests that test/daxvm/run.sh (make test-dax) runs inside
// a QEMU guest with emulated NVDIMMs: a pool on an ext4 file system mounted -o dax,
// DAX mode selection on that mount and on tmpfs, a pool on a device-DAX character
// device, and a power cut in the middle of a stream of acknowledged writes.
//
// The tests run only inside that guest. Everywhere else (go test ./... on a
// developer's machine or in CI) they skip at once: each one first checks that
// DAXVM_GUEST=1, which only the guest's init sets, together with the locations the
// tests use:
//
//	DAXVM_DAXDIR      a directory on the ext4 -o dax mount
//	DAXVM_TMPDIR      a directory on tmpfs (no DAX)
//	DAXVM_DEVDAX      the device-DAX character device, like /dev/dax0.0
//	DAXVM_CRASH       "write" for TestCrashWriter, which runs until the power is cut
//	DAXVM_CRASH_MODE  "emulated" makes the crash writer skip MAP_SYNC (a negative control)
//	DAXVM_ACKED       for TestCrashVerify: the highest key the writer acknowledged
//
// Informational log lines start with "info: " so that the guest's init can tell the
// first failure message apart from them.
package guest
