package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/daxkv/daxkv/kv"
)

// openPTY opens a pseudo-terminal pair: what is written to the returned
// terminal (a character device, so isTerminal is true) is read back by
// the returned function once the terminal is closed.
func openPTY(t *testing.T) (*os.File, func() string) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Skipf("ptsname: %v", err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open pts: %v", err)
	}
	var out bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 4096)
		for {
			n, err := master.Read(b)
			out.Write(b[:n])
			if err != nil {
				return
			}
		}
	}()
	return tty, func() string {
		tty.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		master.Close()
		return out.String()
	}
}

// Regression (review): opBars.end (and the switch to the next op in report) finishes
// the bar with progressbar's Finish, which SETS the bar to its maximum. An
// operation that failed part-way (check of a pool whose scan faults, a
// backup that runs out of space, a repair whose write fails, an Open whose
// recovery scan stops at corruption) is drawn as "check 100%" just before
// the error: the bar claims work that was never done. progressbar's Exit
// keeps the current state.
func TestOpBarsFailedOpNotDrawnComplete(t *testing.T) {
	tty, read := openPTY(t)
	o := &opBars{w: tty}
	o.report(kv.Progress{Op: "check", Unit: "chunks", Done: 3, Total: 10})
	time.Sleep(250 * time.Millisecond) // the ticker draws 3/10
	o.end()                            // the check failed at chunk 4
	screen := read()
	t.Logf("terminal: %q", screen)
	if !strings.Contains(screen, "check") {
		t.Fatal("no bar drawn at all")
	}
	if strings.Contains(screen, "100%") || strings.Contains(screen, "10/10") {
		t.Errorf("a check that stopped at 3 of 10 chunks is drawn complete")
	}
}
