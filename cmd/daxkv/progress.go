package main

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"
)

// progress reports a long task on stderr: a line redrawn in place on a
// terminal, or a line per quarter otherwise (logs, CI). Silent when quiet.
type progress struct {
	w     io.Writer
	label string
	total int64
	done  atomic.Int64
	tty   bool
	start time.Time
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

func startProgress(w io.Writer, quiet bool, label string, total int64) *progress {
	p := &progress{w: w, label: label, total: total, tty: isTerminal(w), start: time.Now(),
		stop: make(chan struct{}), over: make(chan struct{})}
	if quiet {
		close(p.over)
		return p
	}
	go p.run()
	return p
}

func (p *progress) add(n int64) { p.done.Add(n) }

func (p *progress) run() {
	defer close(p.over)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	nextQuarter := p.total / 4
	for {
		select {
		case <-p.stop:
			p.print(true)
			return
		case <-tick.C:
			if p.tty {
				p.print(false)
			} else if d := p.done.Load(); nextQuarter > 0 && d >= nextQuarter && d < p.total {
				p.print(false)
				nextQuarter += p.total / 4
			}
		}
	}
}

func (p *progress) print(final bool) {
	d := p.done.Load()
	el := time.Since(p.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(d) / el
	}
	pct := 100.0
	if p.total > 0 {
		pct = 100 * float64(d) / float64(p.total)
	}
	line := fmt.Sprintf("%s %d/%d (%3.0f%%) %.0f/s", p.label, d, p.total, pct, rate)
	if p.total == 0 { // an unknown total (a stream)
		line = fmt.Sprintf("%s %d %.0f/s", p.label, d, rate)
	}
	switch {
	case p.tty && final:
		fmt.Fprintf(p.w, "\r%s\n", line)
	case p.tty:
		fmt.Fprintf(p.w, "\r%s", line)
	default:
		fmt.Fprintln(p.w, line)
	}
}

// finish stops the display after printing the final figures.
func (p *progress) finish() {
	select {
	case <-p.over:
	default:
		close(p.stop)
		<-p.over
	}
}
