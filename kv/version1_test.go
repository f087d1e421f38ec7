package kv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// version1Model is what testdata/v1.pool holds: a pool of format version 1
// written by the release that introduced this test (64 KiB chunks, closed
// cleanly, no checkpoint beside it). A later format must still open it.
func version1Model() map[string][]byte {
	m := map[string][]byte{}
	for i := range 300 {
		m[fmt.Sprintf("key-%04d", i)] = fmt.Appendf(nil, "value %d %0*d", i, i%200, 0)
	}
	for i := range 50 {
		m[fmt.Sprintf("batch/with/a/long/shared/prefix/%04d", i)] = fmt.Appendf(nil, "b%d", i)
	}
	delete(m, "key-0007")
	for i := 0; i < 300; i += 10 {
		delete(m, fmt.Sprintf("key-%04d", i))
	}
	m["key-0001"] = []byte("overwritten")
	return m
}

func TestOpensVersion1Pool(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "v1.pool"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "v1.pool")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	model := version1Model()
	ro := &Options{ReadOnly: true}
	db, err := Open(path, ro)
	if err != nil {
		t.Fatal(err)
	}
	sameAsModel(t, db, model)
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = openTest(t, path, nil)
	sameAsModel(t, db, model)
	if err := db.Put([]byte("new"), []byte("write")); err != nil {
		t.Fatal(err)
	}
	model["new"] = []byte("write")
	db = reopen(t, db, path, nil)
	sameAsModel(t, db, model)
	db.Close()
}
