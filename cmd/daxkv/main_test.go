package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/daxkv/daxkv/kv"
)

// run executes the CLI with args and returns its stdout.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCommand()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestPutGetDeleteScan(t *testing.T) {
	pool := filepath.Join(t.TempDir(), "cli.pool")
	for _, kvp := range [][2]string{{"b", "2"}, {"a", "1"}, {"c", "3"}} {
		if _, err := run(t, "put", pool, kvp[0], kvp[1]); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := run(t, "get", "--pool", pool, "a"); err != nil || out != "1" {
		t.Fatalf("get a = %q, %v", out, err)
	}
	if out, err := run(t, "scan", pool); err != nil || out != "a\t1\nb\t2\nc\t3\n" {
		t.Fatalf("scan = %q, %v", out, err)
	}
	if out, err := run(t, "scan", pool, "--start", "b", "--end", "c", "--keys"); err != nil || out != "b\n" {
		t.Fatalf("scan [b, c) = %q, %v", out, err)
	}
	if _, err := run(t, "delete", pool, "b"); err != nil {
		t.Fatal(err)
	}
	_, err := run(t, "get", pool, "b")
	if !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("get of a deleted key: %v", err)
	}
	out, err := run(t, "get", pool, "c", "--json")
	var p jsonPair
	if err != nil || json.Unmarshal([]byte(out), &p) != nil || p.Key != "c" || p.Value == nil || *p.Value != "3" {
		t.Fatalf("get --json = %q, %v", out, err)
	}
	out, err = run(t, "stats", pool, "--json")
	var s jsonStats
	if err != nil || json.Unmarshal([]byte(out), &s) != nil || s.Keys != 2 || s.Mode != "off" ||
		s.Used <= 0 || s.FileSize <= 0 || s.AllocatedBytes <= 0 || s.Chunks <= 0 {
		t.Fatalf("stats --json = %q, %v", out, err)
	}
	if out, err := run(t, "check", pool); err != nil || !strings.HasPrefix(out, "ok: 2 keys") {
		t.Fatalf("check = %q, %v", out, err)
	}
}

func TestUsageErrors(t *testing.T) {
	if _, err := run(t, "get", "onlykey"); !errors.Is(err, errUsage) {
		t.Fatalf("get without a pool: %v", err)
	}
	if _, err := run(t, "put", "--mode", "sideways", filepath.Join(t.TempDir(), "p"), "k", "v"); !errors.Is(err, kv.ErrInvalidOptions) {
		t.Fatalf("bad mode: %v", err)
	}
	if _, err := run(t, "get", filepath.Join(t.TempDir(), "missing.pool"), "k"); err == nil {
		t.Fatal("get on a missing pool succeeded")
	}
}

func TestDemoJSON(t *testing.T) {
	pool := filepath.Join(t.TempDir(), "demo.pool")
	out, err := run(t, "demo", "--pool", pool, "--keys", "2000", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r demoResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("demo --json: %v in %q", err, out)
	}
	if !r.Verified || r.Keys != 2000 || r.ScannedKeys != 2000 || r.Mode == "" {
		t.Fatalf("demo result %+v", r)
	}
	out, err = run(t, "demo", "--pool", pool, "--keys", "500", "--batch", "100", "--mode", "emulated", "-q")
	if err != nil || !strings.Contains(out, "ok: all 500 keys verified") || !strings.Contains(out, "emulated") {
		t.Fatalf("demo --batch: %q, %v", out, err)
	}
}

func TestCrashtestOwnOps(t *testing.T) {
	out, err := run(t, "crashtest", "--ops", "put a 10; batch{put a 300, put b 5}; del a", "--paths", "cpu", "-q")
	if err != nil {
		t.Fatalf("crashtest: %v\n%s", err, out)
	}
	if !strings.Contains(out, "crash-suite: images=") || !strings.Contains(out, "violations=0") {
		t.Fatalf("crashtest output: %q", out)
	}
}

// TestCreateAndMode: create makes a new pool and refuses an existing file;
// mode shows the preferred mode and records a new one durably; a pool can
// come from $DAXKV_POOL.
func TestCreateAndMode(t *testing.T) {
	pool := filepath.Join(t.TempDir(), "new.pool")
	out, err := run(t, "create", pool, "--size", "1048576", "--chunk-size", "65536", "--json")
	var c struct {
		Pool      string `json:"pool"`
		Size      int64  `json:"size"`
		ChunkSize int64  `json:"chunk_size"`
	}
	if err != nil || json.Unmarshal([]byte(out), &c) != nil || c.Pool != pool || c.Size != 1<<20 || c.ChunkSize != 64<<10 {
		t.Fatalf("create --json = %q, %v", out, err)
	}
	if _, err := run(t, "create", pool); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("create over an existing pool: %v, want ErrExist", err)
	}
	if out, err := run(t, "mode", pool); err != nil || out != "preferred auto, this open off\n" {
		t.Fatalf("mode = %q, %v", out, err)
	}
	if _, err := run(t, "mode", pool, "off"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "mode", pool, "sideways"); !errors.Is(err, kv.ErrInvalidOptions) {
		t.Fatalf("mode sideways: %v", err)
	}
	t.Setenv(poolEnv, pool)
	out, err = run(t, "mode", "--json")
	var m struct {
		Preferred string `json:"preferred_mode"`
	}
	if err != nil || json.Unmarshal([]byte(out), &m) != nil || m.Preferred != "off" {
		t.Fatalf("mode --json from $%s = %q, %v", poolEnv, out, err)
	}
	if _, err := run(t, "mode", "auto"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "put", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, "get", "k"); err != nil || out != "v" {
		t.Fatalf("get from $%s = %q, %v", poolEnv, out, err)
	}
	if out, err := run(t, "mode", pool); err != nil || !strings.HasPrefix(out, "preferred auto") {
		t.Fatalf("mode after setting auto through $%s = %q, %v", poolEnv, out, err)
	}
	t.Setenv(poolEnv, "")
	if _, err := run(t, "get", "k"); !errors.Is(err, errUsage) {
		t.Fatalf("get with no pool anywhere: %v", err)
	}
}

func TestVersion(t *testing.T) {
	out, err := run(t, "--version")
	if err != nil || !strings.HasPrefix(out, "daxkv version ") || !strings.Contains(out, "go1") {
		t.Fatalf("--version = %q, %v", out, err)
	}
}

// runIn is run with standard input.
func runIn(t *testing.T, in string, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&bytes.Buffer{})
	cmd.SetIn(strings.NewReader(in))
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

// TestBinaryKeysAndValues: --hex and --base64 round-trip any bytes, a value
// from standard input is stored byte for byte, and get prints the raw value.
func TestBinaryKeysAndValues(t *testing.T) {
	pool := filepath.Join(t.TempDir(), "bin.pool")
	if _, err := run(t, "put", pool, "--hex", "00ff10", "deadbeef00"); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, "get", pool, "--hex", "00ff10"); err != nil || out != "deadbeef00\n" {
		t.Fatalf("get --hex = %q, %v", out, err)
	}
	if out, err := run(t, "get", pool, "--base64", "AP8Q"); err != nil || out != "3q2+7wA=\n" {
		t.Fatalf("get --base64 = %q, %v", out, err)
	}
	if _, err := run(t, "put", pool, "--hex", "zz", "00"); !errors.Is(err, errUsage) {
		t.Fatalf("put of a bad hex key: %v", err)
	}
	if _, err := run(t, "put", pool, "--hex", "--base64", "00", "00"); err == nil {
		t.Fatal("--hex with --base64 accepted")
	}
	raw := "line one\nbinary \x00\xff\nno newline at the end"
	if _, err := runIn(t, raw, "put", pool, "stdin", "-"); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, "get", pool, "stdin"); err != nil || out != raw {
		t.Fatalf("get of a value put from stdin = %q, %v", out, err)
	}
	if _, err := run(t, "get", pool, "absent"); !errors.Is(err, kv.ErrNotFound) || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("get of an absent key: %v", err)
	}
}

// TestScanFlags: --prefix, --reverse with --limit, --format hex and json,
// --keys-only.
func TestScanFlags(t *testing.T) {
	pool := filepath.Join(t.TempDir(), "scan.pool")
	for _, k := range []string{"a1", "a2", "a3", "b1", "b\xff", "c"} {
		if _, err := run(t, "put", pool, k, "v-"+k); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--prefix", "a", "--keys-only"}, "a1\na2\na3\n"},
		{[]string{"--prefix", "a", "--start", "a2", "--keys-only"}, "a2\na3\n"},
		{[]string{"--prefix", "b", "--keys-only", "--format", "hex"}, "6231\n62ff\n"},
		{[]string{"--reverse", "--limit", "2", "--keys"}, "c\nb\xff\n"},
		{[]string{"--reverse", "--prefix", "a", "--limit", "2"}, "a3\tv-a3\na2\tv-a2\n"},
		{[]string{"--prefix", "c", "--format", "hex"}, "63\t762d63\n"},
		{[]string{"--start", "b", "--end", "a", "--keys"}, ""},
	} {
		out, err := run(t, append([]string{"scan", pool}, c.args...)...)
		if err != nil || out != c.want {
			t.Errorf("scan %v = %q, %v; want %q", c.args, out, err, c.want)
		}
	}
	out, err := run(t, "scan", pool, "--prefix", "b", "--format", "json")
	if err != nil || !strings.Contains(out, `"key":"b1"`) || !strings.Contains(out, `"key_base64":"Yv8="`) {
		t.Errorf("scan --format json = %q, %v", out, err)
	}
	if _, err := run(t, "scan", pool, "--format", "xml"); !errors.Is(err, errUsage) {
		t.Errorf("scan --format xml: %v", err)
	}
	if got := prefixEnd([]byte("a\xff\xff")); string(got) != "b" {
		t.Errorf("prefixEnd(a ff ff) = %q", got)
	}
	if got := prefixEnd([]byte("\xff")); got != nil {
		t.Errorf("prefixEnd(ff) = %q, want nil", got)
	}
}

// TestBench: every workload runs and reports sane figures; a pool that
// exists is refused (bench removes its pool afterwards), as is an unknown
// workload.
func TestBench(t *testing.T) {
	pool := filepath.Join(t.TempDir(), "bench.pool")
	out, err := run(t, "bench", pool, "--num", "3000", "--threads", "2", "--mode", "emulated", "--json", "-q")
	var rs []benchResult
	if err != nil || json.Unmarshal([]byte(out), &rs) != nil || len(rs) != len(benchWorkloads) {
		t.Fatalf("bench --json = %q, %v", out, err)
	}
	for i, r := range rs {
		if r.Workload != benchWorkloads[i] || r.Ops != 3000 || r.OpsPerSec <= 0 || r.P50 <= 0 || r.P50 > r.P99 || r.P99 > r.Max {
			t.Fatalf("implausible result %+v", r)
		}
	}
	for _, f := range []string{pool, kv.CheckpointPath(pool)} {
		if _, err := os.Stat(f); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("bench left %s behind: %v", f, err)
		}
	}
	if err := os.WriteFile(pool, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "bench", pool, "--num", "10", "-q"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("bench on an existing file: %v", err)
	}
	if _, err := run(t, "bench", filepath.Join(t.TempDir(), "p"), "--workloads", "fillseq,nope", "-q"); !errors.Is(err, errUsage) {
		t.Fatalf("bench with an unknown workload: %v", err)
	}
}

// TestExportImportRoundTrip: export writes JSON Lines that import reads back
// exactly, for text, binary and empty keys' values, through files and
// through standard output and input; a bad line stops the import with its
// line number after the batches before it.
func TestExportImportRoundTrip(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.pool")
	pairs := map[string]string{"plain": "value", "empty": "", "bin\x00\xff": "\x00\x01\xfe\xff", "utf8-ключ": "значение\n\t"}
	for k, v := range pairs {
		if _, err := run(t, "put", src, "--hex", hex.EncodeToString([]byte(k)), hex.EncodeToString([]byte(v))); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "dump.jsonl")
	if out, err := run(t, "export", src, file, "-q"); err != nil || !strings.HasPrefix(out, "exported 4 keys") {
		t.Fatalf("export = %q, %v", out, err)
	}
	stdout, err := run(t, "export", src, "-", "-q")
	if b, _ := os.ReadFile(file); err != nil || stdout != string(b) {
		t.Fatalf("export to - differs from the file: %v", err)
	}
	if _, err := run(t, "export", src, file, "-q"); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("export over an existing file: %v, want a usage error naming --force", err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the export file: %v, %v (want mode 0600)", fi, err)
	}
	if _, err := run(t, "export", src, file, "-q", "--force"); err != nil {
		t.Fatalf("export --force over the file: %v", err)
	}
	dst := filepath.Join(dir, "dst.pool")
	if out, err := run(t, "import", dst, file, "--batch", "3", "-q"); err != nil || out != "imported 4 pairs\n" {
		t.Fatalf("import = %q, %v", out, err)
	}
	dst2 := filepath.Join(dir, "dst2.pool")
	if _, err := runIn(t, stdout+"\n\n", "import", dst2, "-", "-q"); err != nil {
		t.Fatalf("import from stdin: %v", err)
	}
	for _, pool := range []string{dst, dst2} {
		for k, v := range pairs {
			out, err := run(t, "get", pool, "--hex", hex.EncodeToString([]byte(k)))
			if err != nil || out != hex.EncodeToString([]byte(v))+"\n" {
				t.Fatalf("%s: get %q = %q, %v", pool, k, out, err)
			}
		}
	}
	bad := `{"key":"a","value":"1"}` + "\n" + `{"key":"b","value":"2"}` + "\n" + `{"key":"c"}` + "\n"
	dst3 := filepath.Join(dir, "dst3.pool")
	_, err = runIn(t, bad, "import", dst3, "-", "--batch", "1", "-q")
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "2 pairs imported") {
		t.Fatalf("import of a bad third line: %v", err)
	}
	if out, err := run(t, "get", dst3, "b"); err != nil || out != "2" {
		t.Fatalf("the batch before the bad line: %q, %v", out, err)
	}
}
