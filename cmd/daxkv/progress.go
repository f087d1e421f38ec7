package main

import (
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/daxkv/daxkv/kv"
)

// progress shows a long task's progress on stderr as a bar
// (schollz/progressbar) when stderr is a terminal, and nothing otherwise
// (logs, pipes, CI) or when quiet. Workers count with add, an atomic add
// (a benchmark's threads must not contend on the bar's lock); a ticker
// moves the bar ten times a second.
type progress struct {
	bar   *progressbar.ProgressBar // nil when nothing is shown
	w     io.Writer
	total int64 // 0: unknown
	done  atomic.Int64
	stop  chan struct{}
	over  chan struct{}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// startProgress starts a bar labelled label for total keys (0: unknown,
// a spinner) on w.
func startProgress(w io.Writer, quiet bool, label string, total int64) *progress {
	return newProgress(w, quiet, label, total, countOptions("keys")...)
}

// countOptions show a count of unit and its rate.
func countOptions(unit string) []progressbar.Option {
	return []progressbar.Option{progressbar.OptionShowCount(), progressbar.OptionShowIts(),
		progressbar.OptionSetItsString(unit)}
}

// startByteProgress is startProgress counting bytes.
func startByteProgress(w io.Writer, quiet bool, label string, total int64) *progress {
	return newProgress(w, quiet, label, total, progressbar.OptionShowBytes(true))
}

func newProgress(w io.Writer, quiet bool, label string, total int64, unit ...progressbar.Option) *progress {
	p := &progress{w: w, total: total, stop: make(chan struct{}), over: make(chan struct{})}
	if quiet || !isTerminal(w) {
		close(p.over)
		return p
	}
	max := total
	if max <= 0 {
		max = -1
	}
	opts := append([]progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(label),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionOnCompletion(func() { io.WriteString(w, "\n") }),
	}, unit...)
	p.bar = progressbar.NewOptions64(max, opts...)
	go p.run()
	return p
}

// reader counts what r reads on p.
func (p *progress) reader(r io.Reader) io.Reader { return &countingReader{r, p} }

type countingReader struct {
	r io.Reader
	p *progress
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.add(int64(n))
	return n, err
}

func (p *progress) add(n int64) { p.done.Add(n) }

func (p *progress) run() {
	defer close(p.over)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			// Finish draws the bar full: only for work that is. Exit
			// leaves it where it stands (the work failed part way).
			p.bar.Set64(p.done.Load())
			if p.total > 0 && p.done.Load() < p.total {
				p.bar.Exit()
				io.WriteString(p.w, "\n")
			} else {
				p.bar.Finish()
			}
			return
		case <-tick.C:
			p.bar.Set64(p.done.Load())
		}
	}
}

// finish draws the final figures and ends the bar's line.
func (p *progress) finish() {
	select {
	case <-p.over:
	default:
		close(p.stop)
		<-p.over
	}
}

// opBars shows the library's Options.Progress reports as bars on w, one
// bar per operation (a read-only open's recovery scan, then check's own
// scan, ...), each finished when the next starts or at end.
type opBars struct {
	w     io.Writer
	quiet bool
	mu    sync.Mutex
	id    uint64 // the operation the bar shows (kv.Progress.ID)
	bar   *progress
}

func (o *opBars) report(p kv.Progress) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if p.ID != o.id || o.bar == nil {
		if o.bar != nil {
			o.bar.finish()
		}
		o.id, o.bar = p.ID, nil
		if p.Total > 0 { // nothing to do: no bar
			o.bar = newProgress(o.w, o.quiet, p.Op, p.Total, countOptions(p.Unit)...)
		}
	}
	if o.bar != nil {
		o.bar.done.Store(p.Done)
	}
}

// end ends the last bar where it stands (an operation that failed part
// way is not drawn complete); later reports start a new one.
func (o *opBars) end() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.bar != nil {
		o.bar.finish()
	}
	o.bar = nil
}
