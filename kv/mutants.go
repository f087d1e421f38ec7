package kv

import (
	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/internal/mutant"
)

// The crash suite's mutation gate (package internal/mutant): each helper
// below returns the unmutated behaviour unless the build has the "mutants"
// tag and the named mutant is active. Without the tag mutant.On is a
// constant false and these compile to plain db.p and db.p.Drain().

// flusher is db.p, or db.p with its flushes dropped under mutant name.
func (db *DB) flusher(name string) flush.Persister {
	if mutant.On(name) {
		return dropFlush{db.p}
	}
	return db.p
}

// fence drains db.p, unless mutant name drops this fence. A failed drain
// fails the DB (fail.go).
func (db *DB) fence(name string) error {
	if mutant.On(name) {
		return nil
	}
	if err := db.p.Drain(); err != nil {
		return db.fail(err)
	}
	return nil
}

type dropFlush struct{ flush.Persister }

func (d dropFlush) Flush([]byte)         {}
func (d dropFlush) Copy(dst, src []byte) { copy(dst, src) }

type dropDrain struct{ flush.Persister }

func (d dropDrain) Drain() error { return nil }
