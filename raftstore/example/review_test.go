package main

// Regression tests for the defects an adversarial review found; each failed
// on the code before its fix.

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/daxkv/daxkv/kv"
	"github.com/daxkv/daxkv/raftstore"
)

type reviewNode struct {
	r   *raft.Raft
	fsm *store
	st  *raftstore.Store
	srv *httptest.Server
}

// reviewCluster starts n nodes in process (in-memory transport, one raftstore
// pool each, the pool options main uses) with HTTP fronts from handler.
func reviewCluster(t *testing.T, n int) []*reviewNode {
	t.Helper()
	dir := t.TempDir()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "review-example-"); err == nil {
			dir = d
			t.Cleanup(func() { os.RemoveAll(d) })
		}
	}
	httpOf := map[raft.ServerAddress]string{}
	var servers []raft.Server
	trans := make([]*raft.InmemTransport, n)
	nodes := make([]*reviewNode, n)
	for i := range nodes {
		addr, tr := raft.NewInmemTransport(raft.ServerAddress(fmt.Sprint("r", i)))
		trans[i] = tr
		servers = append(servers, raft.Server{ID: raft.ServerID(fmt.Sprint(i)), Address: addr})
		nodes[i] = &reviewNode{fsm: &store{m: map[string]string{}}}
		nodes[i].srv = httptest.NewUnstartedServer(nil)
		nodes[i].srv.Start()
		httpOf[addr] = strings.TrimPrefix(nodes[i].srv.URL, "http://")
	}
	for i := range trans {
		for j := range trans {
			if i != j {
				trans[i].Connect(servers[j].Address, trans[j])
			}
		}
	}
	for i, nd := range nodes {
		st, err := raftstore.New(filepath.Join(dir, fmt.Sprint(i, ".pool")), &kv.Options{DAX: kv.DAXEmulated})
		if err != nil {
			t.Fatal(err)
		}
		nd.st = st
		conf := raft.DefaultConfig()
		conf.LocalID = servers[i].ID
		// Timeouts long enough for a 1 MiB entry to replicate under -race
		// on a loaded machine: these tests are about the handlers, not
		// about elections.
		conf.HeartbeatTimeout = time.Second
		conf.ElectionTimeout = time.Second
		conf.LeaderLeaseTimeout = time.Second
		conf.CommitTimeout = 5 * time.Millisecond
		conf.Logger = hclog.New(&hclog.LoggerOptions{Output: io.Discard})
		r, err := raft.NewRaft(conf, nd.fsm, st, st, raft.NewInmemSnapshotStore(), trans[i])
		if err != nil {
			t.Fatal(err)
		}
		nd.r = r
		if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
			t.Fatal(err)
		}
		nd.srv.Config.Handler = handler(r, nd.fsm, st, httpOf)
	}
	t.Cleanup(func() {
		for _, nd := range nodes {
			nd.srv.Close()
			nd.r.Shutdown().Error()
			nd.st.Close()
		}
	})
	return nodes
}

func reviewLeader(t *testing.T, nodes []*reviewNode) (leader *reviewNode, follower *reviewNode) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		leader, follower = nil, nil
		for _, nd := range nodes {
			if nd.r.State() == raft.Leader {
				leader = nd
			} else if addr, _ := nd.r.LeaderWithID(); addr != "" {
				follower = nd
			}
		}
		if leader != nil && (len(nodes) == 1 || follower != nil) {
			return leader, follower
		}
	}
	t.Fatal("no leader")
	return nil, nil
}

func reviewPutErr(nd *reviewNode, key string, body []byte) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPut, nd.srv.URL+"/kv/"+key, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

func reviewPut(t *testing.T, nd *reviewNode, key string, body []byte) *http.Response {
	t.Helper()
	resp, err := reviewPutErr(nd, key, body)
	if err != nil {
		t.Fatalf("PUT %s: %v", key, err)
	}
	return resp
}

// A value that is not UTF-8 must read back byte for byte (or be refused):
// the command is JSON, whose strings replace invalid UTF-8 with U+FFFD.
func TestBinaryValueRoundTrip(t *testing.T) {
	nodes := reviewCluster(t, 1)
	l, _ := reviewLeader(t, nodes)
	val := []byte{0xff, 0x00, 0xfe, 'x'}
	resp := reviewPut(t, l, "bin", val)
	if resp.StatusCode != http.StatusNoContent {
		t.Skipf("refused: %d", resp.StatusCode)
	}
	got, _ := l.fsm.get("bin")
	if got != string(val) {
		t.Fatalf("PUT %q answered 204, stored %q", val, got)
	}
}

// A value over the 1 MiB read limit must be refused, not silently cut.
func TestLargeValueTruncated(t *testing.T) {
	nodes := reviewCluster(t, 1)
	l, _ := reviewLeader(t, nodes)
	val := bytes.Repeat([]byte{'v'}, 1<<20+100)
	resp := reviewPut(t, l, "big", val)
	got, _ := l.fsm.get("big")
	if resp.StatusCode == http.StatusNoContent && len(got) != len(val) {
		t.Fatalf("PUT of %d bytes answered 204, stored %d bytes", len(val), len(got))
	}
}

// A PUT of a value the handler accepts (under 1 MiB) must not cost the
// leader its leadership: 1 MiB of '<' is 6 MiB of JSON (\u003c), past the
// pool's largest value, StoreLogs fails and raft steps the leader down.
func TestEscapingValueDeposesLeader(t *testing.T) {
	nodes := reviewCluster(t, 3)
	l, _ := reviewLeader(t, nodes)
	term0 := l.r.Stats()["term"]
	req, _ := http.NewRequest(http.MethodPut, l.srv.URL+"/kv/lt", bytes.NewReader(bytes.Repeat([]byte{'<'}, 1<<20-1)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	time.Sleep(500 * time.Millisecond)
	term1 := l.r.Stats()["term"]
	t0, _ := strconv.Atoi(term0)
	t1, _ := strconv.Atoi(term1)
	if t1 != t0 || resp.StatusCode >= 500 {
		t.Fatalf("PUT of 1 MiB of '<': status %d %q; the leader's term went %d -> %d (it stepped down)", resp.StatusCode, bytes.TrimSpace(msg), t0, t1)
	}
}

// A key with escaped characters PUT through a follower must land under the
// same key on the leader: the redirect rebuilds the URL from the decoded
// req.URL.Path.
func TestRedirectEscapedKey(t *testing.T) {
	nodes := reviewCluster(t, 3)
	leader, follower := reviewLeader(t, nodes)
	for _, key := range []string{"a?b", "a/b", "50%", "a#b"} {
		resp, err := reviewPutErr(follower, strings.NewReplacer("%", "%25", "?", "%3F", "/", "%2F", "#", "%23").Replace(key), []byte("v-"+key))
		if err != nil {
			t.Errorf("PUT key %q via a follower: %v", key, err)
			continue
		}
		time.Sleep(50 * time.Millisecond)
		got, ok := leader.fsm.get(key)
		if resp.StatusCode != http.StatusNoContent || !ok || got != "v-"+key {
			leader.fsm.mu.RLock()
			var wrong []string
			for k, v := range leader.fsm.m {
				wrong = append(wrong, k+"="+v)
			}
			leader.fsm.mu.RUnlock()
			t.Errorf("PUT key %q via a follower: status %d, leader has %q=%q (ok %v); leader's map %v", key, resp.StatusCode, key, got, ok, wrong)
		}
	}
}

// GET ?consistent is documented to read through the leader; on a follower
// it fails instead of redirecting.
func TestConsistentReadViaFollower(t *testing.T) {
	nodes := reviewCluster(t, 3)
	leader, follower := reviewLeader(t, nodes)
	if r := reviewPut(t, leader, "k", []byte("v")); r.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT: %d", r.StatusCode)
	}
	resp, err := http.Get(follower.srv.URL + "/kv/k?consistent")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != "v" {
		t.Fatalf("consistent GET via a follower: %d %q", resp.StatusCode, b)
	}
}
