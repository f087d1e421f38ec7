package main

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/daxkv/daxkv/kv"
)

// TestCompactCommand: after most keys of a pool are deleted, `daxkv
// compact --json` reports the records it moved and the chunks it gave
// back, the file occupies less, and every kept key still reads back.
func TestCompactCommand(t *testing.T) {
	pool := filepath.Join(t.TempDir(), "c.pool")
	if _, err := run(t, "create", pool, "--size", "262144", "--chunk-size", "65536"); err != nil {
		t.Fatal(err)
	}
	db, err := kv.Open(pool, &kv.Options{DAX: kv.DAXOff, NoAutoCompact: true})
	if err != nil {
		t.Fatal(err)
	}
	val := make([]byte, 500)
	for i := 0; i < 3000; i++ {
		if err := db.Put([]byte{byte(i >> 8), byte(i)}, val); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3000; i++ {
		if i%10 != 0 {
			if err := db.Delete([]byte{byte(i >> 8), byte(i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "compact", pool, "--json")
	var c jsonCompact
	if err != nil || json.Unmarshal([]byte(out), &c) != nil {
		t.Fatalf("compact --json = %q, %v", out, err)
	}
	if c.Moved == 0 || c.Punched == 0 || c.AllocatedEnd >= c.AllocatedStart || c.Freed != int64(c.Punched)*65536 {
		t.Fatalf("compact did little: %+v", c)
	}
	out, err = run(t, "stats", pool, "--json")
	var s jsonStats
	if err != nil || json.Unmarshal([]byte(out), &s) != nil || s.Keys != 300 {
		t.Fatalf("stats after compact = %q, %v", out, err)
	}
	if out, err := run(t, "compact", pool); err != nil || out == "" {
		t.Fatalf("a second compact = %q, %v", out, err)
	}
}
