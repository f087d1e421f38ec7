package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/daxkv/daxkv/kv"
)

func reviewPool(t *testing.T, keys ...string) string {
	t.Helper()
	pool := filepath.Join(t.TempDir(), "r.pool")
	for _, k := range keys {
		if _, err := run(t, "put", pool, k, "v"); err != nil {
			t.Fatal(err)
		}
	}
	return pool
}

// A negative --limit is a usage error, forward and in reverse (it printed
// every key forward and none in reverse).
func TestScanNegativeLimit(t *testing.T) {
	pool := reviewPool(t, "a", "b", "c")
	for _, args := range [][]string{{"--limit", "-1"}, {"--limit", "-1", "--reverse"}} {
		if out, err := run(t, append([]string{"scan", pool}, args...)...); !errors.Is(err, errUsage) {
			t.Fatalf("scan %v = %q, %v; want a usage error", args, out, err)
		}
	}
}

// An empty value prints "value": "" in JSON (it printed no value field, like
// --keys-only).
func TestJSONEmptyValue(t *testing.T) {
	pool := filepath.Join(t.TempDir(), "r.pool")
	if _, err := runIn(t, "", "put", pool, "k", "-"); err != nil {
		t.Fatal(err)
	}
	out, _ := run(t, "get", pool, "--json", "k")
	sc, _ := run(t, "scan", pool, "--format", "json")
	if !strings.Contains(out, `"value":""`) || !strings.Contains(sc, `"value":""`) {
		t.Fatalf("empty value as JSON: get %q, scan %q; want a \"value\":\"\" field", out, sc)
	}
}

// delete --hex names a key put with --hex.
func TestDeleteHexKey(t *testing.T) {
	pool := filepath.Join(t.TempDir(), "r.pool")
	if _, err := run(t, "put", pool, "--hex", "00ff", "01"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "delete", pool, "--hex", "00ff"); err != nil {
		t.Fatalf("delete --hex of a key put with --hex: %v", err)
	}
}

// put KEY - reads standard input before it opens (and locks) the pool, so
// another command runs while it waits on its input.
func TestPutStdinDoesNotHoldTheLock(t *testing.T) {
	pool := reviewPool(t, "a")
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		cmd := newRootCommand()
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		cmd.SetIn(pr)
		cmd.SetArgs([]string{"put", pool, "k", "-"})
		done <- cmd.Execute()
	}()
	time.Sleep(300 * time.Millisecond)
	_, err := run(t, "get", pool, "a")
	pw.Write([]byte("x"))
	pw.Close()
	<-done
	if err != nil {
		t.Fatalf("get while put waits on stdin: %v", err)
	}
}

// countingZeros is an endless stream of zeros that counts what was read.
type countingZeros struct{ n, max int64 }

func (c *countingZeros) Read(p []byte) (int, error) {
	if c.n >= c.max {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), c.max-c.n)]
	clear(p)
	c.n += int64(len(p))
	return len(p), nil
}

// put KEY - reads at most the largest value any pool takes (1 GiB; 64 MiB
// here, to keep the test fast) from standard input: an endless stream is
// refused, with bounded memory.
func TestPutStdinBounded(t *testing.T) {
	defer func(n int) { maxStdinValue = n }(maxStdinValue)
	maxStdinValue = 64 << 20
	pool := reviewPool(t)
	in := &countingZeros{max: 1 << 40}
	cmd := newRootCommand()
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SetIn(in)
	cmd.SetArgs([]string{"put", pool, "k", "-"})
	err := cmd.Execute()
	if !errors.Is(err, kv.ErrValueTooLarge) {
		t.Fatalf("an endless value on stdin: %v, want ErrValueTooLarge", err)
	}
	if in.n > int64(maxStdinValue)+1 {
		t.Fatalf("read %d bytes of stdin, more than %d", in.n, maxStdinValue+1)
	}
}

// A create that fails leaves nothing behind (it left an empty file that a
// retry found already there).
func TestFailedCreateLeavesNothing(t *testing.T) {
	pool := filepath.Join(t.TempDir(), "c.pool")
	if _, err := run(t, "create", pool, "--size", "1099511627776000"); err == nil {
		t.Fatal("create of an impossible size succeeded")
	}
	if _, err := os.Lstat(pool); err == nil {
		_, rerr := run(t, "create", pool, "--size", "1048576")
		t.Fatalf("failed create left %s behind; the retry: %v", pool, rerr)
	}
}

// With $DAXKV_POOL set, "mode auto" next to a file called auto is refused
// as ambiguous (it set $DAXKV_POOL's preference without a word).
func TestModeEnvAmbiguity(t *testing.T) {
	dir := t.TempDir()
	envPool := filepath.Join(dir, "env.pool")
	if _, err := run(t, "create", envPool, "--size", "1048576", "--chunk-size", "65536"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "mode", envPool, "emulated"); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	os.Chdir(dir)
	if _, err := run(t, "create", "auto", "--size", "1048576", "--chunk-size", "65536"); err != nil {
		t.Fatal(err)
	}
	t.Setenv(poolEnv, envPool)
	out, err := run(t, "mode", "auto") // the user means: show ./auto's mode
	after, _ := run(t, "mode", envPool)
	if !errors.Is(err, errUsage) || !strings.HasPrefix(after, "preferred emulated") {
		t.Fatalf("\"mode auto\" with $%s set: printed %q (%v) and changed %s to %q", poolEnv, out, err, envPool, after)
	}
}

// put KEY - takes a value longer than half a chunk (a run) from standard
// input, and get prints it back exactly.
func TestPutStdinRunValue(t *testing.T) {
	pool := reviewPool(t)
	v := bytes.Repeat([]byte("0123456789abcdef"), (5<<20)/16+3) // over one 4 MiB chunk
	cmd := newRootCommand()
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SetIn(bytes.NewReader(v))
	cmd.SetArgs([]string{"put", pool, "big", "-"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "get", pool, "big")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSuffix(out, "\n"); got != string(v) {
		t.Fatalf("get printed %d bytes, want %d", len(got), len(v))
	}
}
