package raftstore

import (
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// fsm is a replicated list of commands.
type fsm struct {
	mu   sync.Mutex
	cmds []string
}

func (f *fsm) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = append(f.cmds, string(l.Data))
	return nil
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &fsmSnap{strings.Join(f.cmds, "\n")}, nil
}

func (f *fsm) Restore(r io.ReadCloser) error {
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = nil
	if len(b) > 0 {
		f.cmds = strings.Split(string(b), "\n")
	}
	return nil
}

func (f *fsm) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.cmds)
}

type fsmSnap struct{ data string }

func (s *fsmSnap) Persist(sink raft.SnapshotSink) error {
	if _, err := io.WriteString(sink, s.data); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}
func (s *fsmSnap) Release() {}

// node is one member of the test cluster: its pool, its snapshots (kept
// in memory across restarts), its transport and its state machine.
type node struct {
	id    raft.ServerID
	path  string
	store *Store
	snaps *raft.InmemSnapshotStore
	trans *raft.InmemTransport
	fsm   *fsm
	raft  *raft.Raft
}

type cluster struct {
	t     *testing.T
	nodes []*node
	mu    sync.Mutex // protects each node's raft and fsm, which restarts replace
}

func (c *cluster) start(n *node) {
	c.t.Helper()
	var err error
	if n.store, err = New(n.path, opts()); err != nil {
		c.t.Fatalf("%s: open: %v", n.id, err)
	}
	_, n.trans = raft.NewInmemTransport(raft.ServerAddress(n.id))
	for _, o := range c.nodes { // (re)connect both ways
		if o != n && o.trans != nil {
			n.trans.Connect(raft.ServerAddress(o.id), o.trans)
			o.trans.Connect(raft.ServerAddress(n.id), n.trans)
		}
	}
	conf := raft.DefaultConfig()
	conf.LocalID = n.id
	conf.HeartbeatTimeout = 100 * time.Millisecond
	conf.ElectionTimeout = 100 * time.Millisecond
	conf.LeaderLeaseTimeout = 100 * time.Millisecond
	conf.CommitTimeout = 5 * time.Millisecond
	conf.SnapshotThreshold = 2000 // snapshots, then DeleteRange of the log's start
	conf.TrailingLogs = 500
	conf.SnapshotInterval = 200 * time.Millisecond
	conf.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Error, Output: io.Discard})
	f := &fsm{}
	r, err := raft.NewRaft(conf, f, n.store, n.store, n.snaps, n.trans)
	if err != nil {
		c.t.Fatalf("%s: raft: %v", n.id, err)
	}
	c.mu.Lock()
	n.fsm, n.raft = f, r
	c.mu.Unlock()
}

func (c *cluster) stop(n *node) {
	c.t.Helper()
	c.mu.Lock()
	r := n.raft
	n.raft = nil
	c.mu.Unlock()
	if err := r.Shutdown().Error(); err != nil {
		c.t.Fatalf("%s: shutdown: %v", n.id, err)
	}
	for _, o := range c.nodes {
		if o != n && o.trans != nil {
			o.trans.Disconnect(raft.ServerAddress(n.id))
		}
	}
	n.trans.Close()
	n.trans = nil
	if err := n.store.Close(); err != nil {
		c.t.Fatalf("%s: close: %v", n.id, err)
	}
}

func (c *cluster) leader(except *node) (*node, *raft.Raft) {
	c.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c.mu.Lock()
		for _, n := range c.nodes {
			if n != except && n.raft != nil && n.raft.State() == raft.Leader {
				r := n.raft
				c.mu.Unlock()
				return n, r
			}
		}
		c.mu.Unlock()
	}
	c.t.Error("no leader elected within 10 s")
	return nil, nil
}

func (c *cluster) fsmOf(n *node) *fsm {
	c.mu.Lock()
	defer c.mu.Unlock()
	return n.fsm
}

// apply commits commands from..to-1 through the leader, moving to a new
// leader when leadership changes, and returns the commands acknowledged.
func (c *cluster) apply(from, to int) []string {
	c.t.Helper()
	var acked []string
	for i := from; i < to; {
		_, l := c.leader(nil)
		if l == nil {
			return acked
		}
		var fs []raft.ApplyFuture
		var cmds []string
		for j := i; j < min(to, i+200); j++ {
			cmd := fmt.Sprintf("c%05d", j)
			fs = append(fs, l.Apply([]byte(cmd), 5*time.Second))
			cmds = append(cmds, cmd)
		}
		ok := 0
		for k, f := range fs {
			answered, err := waitFuture(f, applyWait)
			if !answered {
				c.t.Errorf("command %s: no answer within %v\n%s", cmds[k], applyWait, c.describe())
				return acked
			}
			if err != nil {
				break // leadership moved: retry the rest on the new leader
			}
			acked = append(acked, cmds[k])
			ok++
		}
		i += ok
	}
	return acked
}

// applyWait bounds the wait for one command's future. A healthy cluster
// answers in milliseconds, and raft fails a future when leadership moves,
// so a future unanswered this long is a stalled cluster: the test fails
// with the cluster's state instead of hanging until the test timeout.
const applyWait = 30 * time.Second

// waitFuture waits up to d for f; answered is false when it timed out.
func waitFuture(f raft.Future, d time.Duration) (answered bool, err error) {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return true, err
	case <-time.After(d):
		return false, nil
	}
}

// describe reports each node's raft state and log bounds, and the stacks
// of the goroutines in raft, for a stalled cluster's failure message.
func (c *cluster) describe() string {
	var b strings.Builder
	c.mu.Lock()
	for _, n := range c.nodes {
		if n.raft == nil {
			fmt.Fprintf(&b, "%s: stopped\n", n.id)
			continue
		}
		st := n.raft.Stats()
		fmt.Fprintf(&b, "%s: %s term=%s last_log=%s commit=%s applied=%s last_contact=%s\n", n.id,
			st["state"], st["term"], st["last_log_index"], st["commit_index"], st["applied_index"], st["last_contact"])
	}
	c.mu.Unlock()
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "hashicorp/raft.") {
			b.WriteString(g)
			b.WriteString("\n\n")
		}
	}
	return b.String()
}

// TestCluster runs three raft nodes in one process, on raft's in-memory
// transport, each on its own pool: 10,000 commands through the leader;
// the leader shut down (and later restarted) and a new one elected; a
// follower's pool closed and reopened mid-stream. In the end every node's
// state machine holds the same commands, every acknowledged one among
// them, and the logs were compacted (snapshots, then DeleteRange).
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("a cluster")
	}
	dir := testDir(t)
	c := &cluster{t: t}
	var servers []raft.Server
	for i := 0; i < 3; i++ {
		id := raft.ServerID(fmt.Sprintf("n%d", i))
		c.nodes = append(c.nodes, &node{id: id, path: filepath.Join(dir, string(id)+".pool"), snaps: raft.NewInmemSnapshotStore()})
		servers = append(servers, raft.Server{ID: id, Address: raft.ServerAddress(id)})
	}
	for _, n := range c.nodes {
		c.start(n)
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			if n.trans != nil {
				c.stop(n)
			}
		}
	})
	if err := c.nodes[0].raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		t.Fatal(err)
	}
	acked := c.apply(0, 4000)

	old, _ := c.leader(nil)
	c.stop(old) // the leader goes away
	newLeader, _ := c.leader(old)
	t.Logf("leader %s shut down, %s elected", old.id, newLeader.id)
	acked = append(acked, c.apply(4000, 6000)...)

	var follower *node // a follower's pool closed and reopened mid-stream
	for _, n := range c.nodes {
		if n != old && n != newLeader {
			follower = n
		}
	}
	done := make(chan []string)
	go func() { done <- c.apply(6000, 8000) }()
	time.Sleep(50 * time.Millisecond)
	c.stop(follower)
	c.start(follower)
	acked = append(acked, <-done...)

	c.start(old) // the old leader comes back, behind
	acked = append(acked, c.apply(8000, 10000)...)

	// Every node converges on the leader's commit.
	l, lr := c.leader(nil)
	if err := lr.Barrier(10 * time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	want := c.fsmOf(l).list()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		same := true
		for _, n := range c.nodes {
			if !slices.Equal(c.fsmOf(n).list(), want) {
				same = false
			}
		}
		if same {
			break
		}
		if time.Now().After(deadline) {
			for _, n := range c.nodes {
				t.Logf("%s: %d commands", n.id, len(c.fsmOf(n).list()))
			}
			t.Fatalf("the state machines differ after 20 s (the leader has %d commands)", len(want))
		}
	}
	have := map[string]bool{}
	for _, cmd := range want {
		have[cmd] = true
	}
	for _, cmd := range acked {
		if !have[cmd] {
			t.Fatalf("acknowledged command %s is missing", cmd)
		}
	}
	if len(acked) < 10000 {
		t.Fatalf("%d of 10,000 commands acknowledged", len(acked))
	}
	first, _ := l.store.FirstIndex()
	t.Logf("%d commands in every state machine; the leader's log starts at %d (compacted)", len(want), first)
	if first <= 1 {
		t.Fatalf("the leader's log starts at %d: no snapshot ever compacted it", first)
	}
}
