package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestThreeProcesses starts the example as three processes on loopback,
// each with its own pool: a PUT through any node (a follower redirects to
// the leader) is read back from every node; with the leader stopped, the
// two others elect a new one and keep serving writes.
func TestThreeProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three processes")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "example")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var peers []string
	var https []string
	for i := 1; i <= 3; i++ {
		h := freePort(t)
		peers = append(peers, fmt.Sprintf("%d=%s/%s", i, freePort(t), h))
		https = append(https, h)
	}
	procs := make([]*exec.Cmd, 3)
	for i := range procs {
		cmd := exec.Command(bin, "-id", fmt.Sprint(i+1), "-dir", filepath.Join(dir, fmt.Sprint(i+1)), "-mode", "off",
			"-peers", strings.Join(peers, ","))
		cmd.Stderr = io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs[i] = cmd
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	client := &http.Client{Timeout: 5 * time.Second}
	status := func(i int) map[string]any {
		resp, err := client.Get("http://" + https[i] + "/status")
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return m
	}
	leaderOf := func(alive []int) int {
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			for _, i := range alive {
				if s := status(i); s != nil && s["state"] == "Leader" {
					return i
				}
			}
		}
		t.Fatal("no leader within 30 s")
		return -1
	}
	put := func(via int, k, v string) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			req, _ := http.NewRequest(http.MethodPut, "http://"+https[via]+"/kv/"+k, strings.NewReader(v))
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusNoContent {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("PUT %s via node %d: %v", k, via+1, err)
			}
		}
	}
	readEverywhere := func(alive []int, k, want string) {
		t.Helper()
		for _, i := range alive {
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				resp, err := client.Get("http://" + https[i] + "/kv/" + k)
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK && string(b) == want {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("node %d never served %s=%s", i+1, k, want)
				}
			}
		}
	}
	all := []int{0, 1, 2}
	l := leaderOf(all)
	follower := (l + 1) % 3
	put(follower, "greeting", "hello") // redirected to the leader
	readEverywhere(all, "greeting", "hello")

	procs[l].Process.Signal(syscall.SIGTERM)
	procs[l].Wait()
	var alive []int
	for _, i := range all {
		if i != l {
			alive = append(alive, i)
		}
	}
	l2 := leaderOf(alive)
	put(alive[0], "after", "the leader left")
	readEverywhere(alive, "after", "the leader left")
	t.Logf("leader %d stopped, %d elected; writes served by the two left", l+1, l2+1)
	if s := status(l2); s == nil || s["daxkv_mode"] != "off" {
		t.Fatalf("status of the new leader: %v", s)
	}
	if _, err := os.Stat(filepath.Join(dir, fmt.Sprint(l2+1), "raft.pool")); err != nil {
		t.Fatalf("the new leader's pool: %v", err)
	}
}
