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
	cmdline := fmt.Sprintf("%s import %s %s; echo status-$?", bin, filepath.Join(dir, "tty.pool"), input)
	if out, err := tm("send-keys", "-t", "t", cmdline, "Enter"); err != nil {
		t.Fatalf("tmux send-keys: %v: %s", err, out)
	}
	var screen string
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if screen, err = tm("capture-pane", "-p", "-t", "t"); err != nil {
			t.Fatalf("tmux capture-pane: %v: %s", err, screen)
		}
		if strings.Contains(screen, "status-0") || strings.Contains(screen, "status-1") {
			break
		}
	}
	t.Logf("the terminal:\n%s", screen)
	if !strings.Contains(screen, "status-0") || !strings.Contains(screen, fmt.Sprintf("imported %d pairs", pairs)) {
		t.Fatalf("import in the terminal did not finish cleanly")
	}
	if !strings.Contains(screen, "import 100%") || !strings.Contains(screen, "MB/s") {
		t.Fatal("no progress bar at 100% with a rate on the terminal")
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
}
