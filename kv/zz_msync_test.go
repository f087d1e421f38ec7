package kv

import (
	"fmt"
	"os"
	"testing"
	"time"
)

func TestZZMsyncCount(t *testing.T) {
	dir := os.Getenv("ZZDIR")
	if dir == "" {
		t.Skip()
	}
	os.Remove(dir + "/zz.pool")
	db, err := Open(dir+"/zz.pool", &Options{DAX: DAXOff})
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(dir + "/zz.pool")
	defer db.Close()
	val := make([]byte, 300)
	for i := 0; i < 200; i++ {
		db.Put(fmt.Appendf(nil, "warm%d", i), val)
	}
	time.Sleep(100 * time.Millisecond)
	n := 2000
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := db.Put(fmt.Appendf(nil, "k%08d", i), val); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("put: %v/op", time.Since(start)/time.Duration(n))
	start = time.Now()
	for i := 0; i < n/64; i++ {
		b := db.NewBatch()
		for j := 0; j < 64; j++ {
			b.Put(fmt.Appendf(nil, "b%08d", i*64+j), val)
		}
		if err := db.Apply(b); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("batch64: %v/op", time.Since(start)/time.Duration(n/64))
}
