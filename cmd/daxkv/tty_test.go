package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProgressBarInATerminal drives daxkv through a real terminal (a tmux
// session: send-keys, capture-pane): import shows a progress bar there,
// and prints nothing on stderr when it is not a terminal. make test
// installs tmux and sets DAXKV_REQUIRE_TMUX, so that the test cannot skip
// there.
func TestProgressBarInATerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a terminal")
	}
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("DAXKV_REQUIRE_TMUX") != "" {
			t.Fatal("tmux is required here (DAXKV_REQUIRE_TMUX) and not installed")
		}
		t.Skip("no tmux")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "daxkv")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	const pairs = 200_000
	input := filepath.Join(dir, "pairs.jsonl")
	f, err := os.Create(input)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := 0; i < pairs; i++ {
		fmt.Fprintf(w, "{\"key\":\"k%07d\",\"value\":\"v%d\"}\n", i, i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	// In a terminal: the bar, redrawn in place, ends on the final count.
	sock := filepath.Join(dir, "tmux.sock")
	tm := func(args ...string) (string, error) {
		out, err := exec.Command(tmux, append([]string{"-S", sock}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := tm("new-session", "-d", "-s", "t", "-x", "160", "-y", "12"); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	defer tm("kill-server")
	// run types cmdline into the terminal on a cleared screen and returns
	// the screen once the command has finished.
	runs := 0
	run := func(cmdline string) string {
		t.Helper()
		runs++ // a marker of its own: the screen may still show the last one
		// The typed line shows the marker split by quotes; only the echo
		// prints it whole.
		done := fmt.Sprintf("run-%d-status", runs)
		echo := fmt.Sprintf(`echo "run-%d-sta""tus-$?"`, runs)
		if out, err := tm("send-keys", "-t", "t", "clear; "+cmdline+"; "+echo, "Enter"); err != nil {
			t.Fatalf("tmux send-keys: %v: %s", err, out)
		}
		var screen string
		for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if screen, err = tm("capture-pane", "-p", "-t", "t"); err != nil {
				t.Fatalf("tmux capture-pane: %v: %s", err, screen)
			}
			if strings.Contains(screen, done+"-") {
				break
			}
		}
		t.Logf("the terminal after %s:\n%s", cmdline, screen)
		if !strings.Contains(screen, done+"-0") {
			t.Fatalf("%s in the terminal did not finish cleanly", cmdline)
		}
		return screen
	}
	pool := filepath.Join(dir, "tty.pool")
	screen := run(fmt.Sprintf("%s import %s %s", bin, pool, input))
	if !strings.Contains(screen, fmt.Sprintf("imported %d pairs", pairs)) {
		t.Fatal("import did not report its pairs")
	}
	if !strings.Contains(screen, "import 100%") || !strings.Contains(screen, "MB/s") {
		t.Fatal("no progress bar at 100% with a rate on the terminal")
	}
	// check, backup and repair show the library's progress: the open's
	// recovery scan, then their own work, each bar ending at 100%.
	for _, c := range []struct {
		args string
		bars []string
	}{
		{"check " + pool, []string{"recover 100%", "check 100%"}},
		{"backup " + pool + " " + filepath.Join(dir, "tty.backup"), []string{"recover 100%", "backup 100%"}},
		{"repair " + pool + " --out " + filepath.Join(dir, "tty.repaired"), []string{"repair: scan 100%", "repair: write 100%"}},
	} {
		screen := run(bin + " " + c.args)
		for _, bar := range c.bars {
			if !strings.Contains(screen, bar) {
				t.Errorf("%s: no %q bar on the terminal", c.args, bar)
			}
		}
	}

	// Piped: nothing on stderr.
	cmd := exec.Command(bin, "import", filepath.Join(dir, "piped.pool"), input)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if out, err := cmd.Output(); err != nil || !strings.Contains(string(out), "imported") {
		t.Fatalf("piped import: %v, stdout %q", err, out)
	}
	if stderr.Len() != 0 {
		t.Fatalf("piped import wrote to stderr: %q", stderr.String())
	}
	for _, args := range [][]string{
		{"check", pool},
		{"backup", pool, filepath.Join(dir, "piped.backup")},
		{"repair", pool, "--out", filepath.Join(dir, "piped.repaired")},
	} {
		cmd := exec.Command(bin, args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if out, err := cmd.Output(); err != nil {
			t.Fatalf("piped %s: %v, stdout %q, stderr %q", args[0], err, out, stderr.String())
		}
		if stderr.Len() != 0 {
			t.Errorf("piped %s wrote to stderr: %q", args[0], stderr.String())
		}
	}
}
