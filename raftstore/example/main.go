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

type command struct {
	Key, Value string
}

func (s *store) Apply(l *raft.Log) any {
	var c command
	if err := json.Unmarshal(l.Data, &c); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[c.Key] = c.Value
	return nil
}

func (s *store) Snapshot() (raft.FSMSnapshot, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, err := json.Marshal(s.m)
	return snapshot(b), err
}

func (s *store) Restore(r io.ReadCloser) error {
	defer r.Close()
	m := map[string]string{}
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return err
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
	mux.HandleFunc("PUT /kv/{key}", func(w http.ResponseWriter, req *http.Request) {
		if r.State() != raft.Leader {
			leader, _ := r.LeaderWithID()
			if h := httpOf[leader]; h != "" {
				http.Redirect(w, req, "http://"+h+req.URL.Path, http.StatusTemporaryRedirect)
				return
			}
			http.Error(w, "no leader", http.StatusServiceUnavailable)
			return
		}
		v, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		b, _ := json.Marshal(command{Key: req.PathValue("key"), Value: string(v)})
		if err := r.Apply(b, 5*time.Second).Error(); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /kv/{key}", func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Query().Has("consistent") {
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
