// Command example is a replicated key-value service: one process per node,
// raft over TCP between them, each node's log and stable state in its own
// daxkv pool (raftstore), and a small HTTP front:
//
//	PUT /kv/KEY   (body: the value) through the leader; a follower redirects
//	GET /kv/KEY   from this node's state machine (add ?consistent to read
//	              through the leader after a barrier)
//	GET /status   this node's raft state, leader and indexes, as JSON
//
// Start three nodes on loopback (see the README):
//
//	go run ./example -id 1 -dir node1 &   (in raftstore/)
//	go run ./example -id 2 -dir node2 &
//	go run ./example -id 3 -dir node3 &
//
// Node i listens for raft on 127.0.0.1:700i and for HTTP on 127.0.0.1:800i
// unless -peers says otherwise; every node bootstraps the same three-node
// configuration (raft accepts that on a fresh cluster).
package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/raft"

	"github.com/daxkv/daxkv/kv"
	"github.com/daxkv/daxkv/raftstore"
)

// peer is one member: its raft and HTTP addresses.
type peer struct {
	id, raftAddr, httpAddr string
}

// parsePeers reads "ID=RAFTADDR/HTTPADDR,..." .
func parsePeers(s string) ([]peer, error) {
	var out []peer
	for _, p := range strings.Split(s, ",") {
		id, addrs, ok := strings.Cut(p, "=")
		r, h, ok2 := strings.Cut(addrs, "/")
		if !ok || !ok2 || id == "" || r == "" || h == "" {
			return nil, fmt.Errorf("peer %q: want ID=RAFTADDR/HTTPADDR", p)
		}
		out = append(out, peer{id, r, h})
	}
	return out, nil
}

// store is the replicated state machine: a map.
type store struct {
	mu sync.RWMutex
	m  map[string]string
}

// A command, and a snapshot's every pair, is the key's length (uvarint),
// the key, then the value (in a snapshot, after its own length): exact for
// any bytes, where JSON strings would replace invalid UTF-8 and grow a
// value up to six times.
func appendPair(b []byte, k, v string, withLen bool) []byte {
	b = binary.AppendUvarint(b, uint64(len(k)))
	b = append(b, k...)
	if withLen {
		b = binary.AppendUvarint(b, uint64(len(v)))
	}
	return append(b, v...)
}

// nextField splits a length-prefixed field off b.
func nextField(b []byte) (field, rest []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, errors.New("example: a length runs past the bytes")
	}
	return b[k : k+int(n)], b[k+int(n):], nil
}

func (s *store) Apply(l *raft.Log) any {
	k, v, err := nextField(l.Data)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[string(k)] = string(v)
	return nil
}

func (s *store) Snapshot() (raft.FSMSnapshot, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var b []byte
	for k, v := range s.m {
		b = appendPair(b, k, v, true)
	}
	return snapshot(b), nil
}

func (s *store) Restore(r io.ReadCloser) error {
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := map[string]string{}
	for len(b) > 0 {
		var k, v []byte
		if k, b, err = nextField(b); err != nil {
			return err
		}
		if v, b, err = nextField(b); err != nil {
			return err
		}
		m[string(k)] = string(v)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m = m
	return nil
}

func (s *store) get(k string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.m[k]
	return v, ok
}

type snapshot []byte

func (b snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(b); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (snapshot) Release() {}

func main() {
	id := flag.String("id", "1", "this node's ID (one of -peers)")
	dir := flag.String("dir", "", "this node's directory: its pool and its snapshots (required)")
	peers := flag.String("peers", "1=127.0.0.1:7001/127.0.0.1:8001,2=127.0.0.1:7002/127.0.0.1:8002,3=127.0.0.1:7003/127.0.0.1:8003",
		"the cluster: ID=RAFTADDR/HTTPADDR, comma separated")
	mode := flag.String("mode", "auto", "daxkv durability mode: auto, on, off or emulated")
	flag.Parse()
	if err := run(*id, *dir, *peers, *mode); err != nil {
		log.Fatal(err)
	}
}

func run(id, dir, peerList, modeName string) error {
	if dir == "" {
		return errors.New("name this node's directory with -dir")
	}
	ps, err := parsePeers(peerList)
	if err != nil {
		return err
	}
	var me *peer
	var servers []raft.Server
	for i := range ps {
		if ps[i].id == id {
			me = &ps[i]
		}
		servers = append(servers, raft.Server{ID: raft.ServerID(ps[i].id), Address: raft.ServerAddress(ps[i].raftAddr)})
	}
	if me == nil {
		return fmt.Errorf("-id %s is not in -peers", id)
	}
	mode, err := kv.ParseDAXMode(modeName)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	st, err := raftstore.New(filepath.Join(dir, "raft.pool"), &kv.Options{DAX: mode})
	if err != nil {
		return err
	}
	defer st.Close()
	snaps, err := raft.NewFileSnapshotStore(dir, 2, os.Stderr)
	if err != nil {
		return err
	}
	addr, err := net.ResolveTCPAddr("tcp", me.raftAddr)
	if err != nil {
		return err
	}
	trans, err := raft.NewTCPTransport(me.raftAddr, addr, 3, 10*time.Second, os.Stderr)
	if err != nil {
		return err
	}
	conf := raft.DefaultConfig()
	conf.LocalID = raft.ServerID(id)
	fsm := &store{m: map[string]string{}}
	r, err := raft.NewRaft(conf, fsm, st, st, snaps, trans)
	if err != nil {
		return err
	}
	if last, _ := st.LastIndex(); last == 0 { // a fresh node: every node bootstraps the same configuration
		if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			return err
		}
	}
	httpOf := map[raft.ServerAddress]string{}
	for _, p := range ps {
		httpOf[raft.ServerAddress(p.raftAddr)] = p.httpAddr
	}
	srv := &http.Server{Addr: me.httpAddr, Handler: handler(r, fsm, st, httpOf)}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Printf("node %s: raft on %s, HTTP on %s, pool %s", id, me.raftAddr, me.httpAddr, filepath.Join(dir, "raft.pool"))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case err = <-errc:
	case <-sig:
	}
	srv.Close()
	return errors.Join(err, r.Shutdown().Error())
}

func handler(r *raft.Raft, fsm *store, st *raftstore.Store, httpOf map[raft.ServerAddress]string) http.Handler {
	mux := http.NewServeMux()
	// toLeader redirects a request that only the leader serves, keeping
	// its escaped path and query; it reports whether it answered.
	toLeader := func(w http.ResponseWriter, req *http.Request) bool {
		if r.State() == raft.Leader {
			return false
		}
		leader, _ := r.LeaderWithID()
		if h := httpOf[leader]; h != "" {
			http.Redirect(w, req, "http://"+h+req.URL.RequestURI(), http.StatusTemporaryRedirect)
			return true
		}
		http.Error(w, "no leader", http.StatusServiceUnavailable)
		return true
	}
	mux.HandleFunc("PUT /kv/{key}", func(w http.ResponseWriter, req *http.Request) {
		if toLeader(w, req) {
			return
		}
		key := req.PathValue("key")
		// The command must fit in one log entry, and the entry in one
		// value of the pool: a bigger one would fail the leader's
		// StoreLogs, and raft answers that by stepping down.
		limit := int64(st.DB().Stats().MaxValueSize - 64 - len(key))
		v, err := io.ReadAll(http.MaxBytesReader(w, req.Body, max(limit, 0)))
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			http.Error(w, fmt.Sprintf("value too large: the limit is %d bytes", limit), http.StatusRequestEntityTooLarge)
			return
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		b := appendPair(nil, key, string(v), false)
		if err := r.Apply(b, 5*time.Second).Error(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /kv/{key}", func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Query().Has("consistent") {
			if toLeader(w, req) {
				return
			}
			if err := r.VerifyLeader().Error(); err != nil {
				http.Error(w, "not the leader: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
			if err := r.Barrier(5 * time.Second).Error(); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		v, ok := fsm.get(req.PathValue("key"))
		if !ok {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		io.WriteString(w, v)
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, req *http.Request) {
		leader, leaderID := r.LeaderWithID()
		first, _ := st.FirstIndex()
		last, _ := st.LastIndex()
		json.NewEncoder(w).Encode(map[string]any{
			"state": r.State().String(), "leader": leaderID, "leader_addr": leader,
			"first_index": first, "last_index": last, "applied_index": r.AppliedIndex(),
			"daxkv_mode": st.DB().Stats().Mode.String(),
		})
	})
	return mux
}
