package flush

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestSimLineNeverGoesBack: with PerThread, a goroutine that flushed a line
// and fences only after a second goroutine has rewritten, flushed and
// fenced the same line does not put its older capture over the second
// one's durable content, neither at its fence nor in a crash image taken
// before it: on a CPU a line's write-backs follow the order of its writes.
// The crash suite's concurrent histories once failed about one run in a
// hundred on it (conc-1-35: a record that one writer had made durable,
// lost to another writer's older capture of its line).
func TestSimLineNeverGoesBack(t *testing.T) {
	mem := make([]byte, 4096)
	s := NewSim(SimCPU, func() []byte { return mem })
	s.PerThread = true
	line := mem[64:128]
	older, newer := bytes.Repeat([]byte{1}, 64), bytes.Repeat([]byte{2}, 64)

	flushed, fenced, drain, done := make(chan struct{}), make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() { // the first writer: flushes, and fences after the second
		copy(line, older)
		s.Flush(line)
		close(flushed)
		<-drain
		if err := s.Drain(); err != nil {
			t.Error(err)
		}
		close(done)
	}()
	go func() { // the second writer: rewrites the line, flushes, fences
		<-flushed
		copy(line, newer)
		s.Flush(line)
		if err := s.Drain(); err != nil {
			t.Error(err)
		}
		close(fenced)
	}()
	<-fenced
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 64 {
		if img := s.Image([]int64{64}, TearLines, r); !bytes.Equal(img[64:128], newer) {
			t.Fatalf("crash image %d before the first writer's fence holds the line's older content", i)
		}
	}
	close(drain)
	<-done
	if img := s.Durable(); !bytes.Equal(img[64:128], newer) {
		t.Fatalf("after both fences the line's durable content is %x, want the second writer's", img[64:72])
	}
}
