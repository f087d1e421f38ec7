package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/daxkv/daxkv/daxmap"
	"github.com/daxkv/daxkv/flush"
	"github.com/daxkv/daxkv/kv"
	"github.com/daxkv/daxkv/recovery"
)

// jsonInfo is what info prints with --json; the path's fields are empty
// without a path, and the pool's when the path is not a pool.
type jsonInfo struct {
	Arch              string      `json:"arch"`
	FlushMethods      []string    `json:"flush_methods"` // what this CPU can execute
	FlushMethod       string      `json:"flush_method"`  // what daxkv would use
	Path              string      `json:"path,omitempty"`
	MapSync           *bool       `json:"map_sync,omitempty"` // absent when not probed
	DomainRead        bool        `json:"-"`
	MapSyncWhyNot     string      `json:"map_sync_why_not,omitempty"`
	PersistenceDomain string      `json:"persistence_domain,omitempty"`
	Pool              *jsonHeader `json:"pool,omitempty"`
	PoolError         string      `json:"pool_error,omitempty"`
}

type jsonHeader struct {
	Version       uint32 `json:"version"`
	UUID          string `json:"uuid"`
	ChunkSize     int64  `json:"chunk_size"`
	FileSize      int64  `json:"file_size"`
	Generation    uint64 `json:"generation"`
	Clean         bool   `json:"clean_shutdown"`
	PreferredMode string `json:"preferred_mode"`
	SeqFloor      uint64 `json:"seq_floor"`
}

func newInfoCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "info [PATH]",
		Short: "Print the CPU's flush instructions and, for a path, MAP_SYNC, the persistence domain and the pool's header",
		Long: `info prints the flush instructions this CPU can execute and the one daxkv
uses; for PATH (a pool, or a directory where pools would live) whether its
filesystem grants MAP_SYNC and why not, and the persistence domain the kernel
reports; and for a pool its header. The pool is read, never opened for
writing.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := g.pool
			if len(args) == 1 {
				if path != "" {
					return fmt.Errorf("%w: name the path once, with --pool or as the argument", errUsage)
				}
				path = args[0]
			}
			if len(args) == 1 && path == "" {
				return fmt.Errorf("%w: the path is empty", errUsage)
			}
			in, err := gatherInfo(path, g.wait)
			if err != nil {
				return err
			}
			if g.json {
				return writeJSON(cmd.OutOrStdout(), in)
			}
			printInfo(cmd, in)
			return nil
		},
	}
}

func gatherInfo(path string, wait time.Duration) (*jsonInfo, error) {
	in := &jsonInfo{Arch: runtime.GOARCH, FlushMethods: []string{}, FlushMethod: flush.Detect().String()}
	for m := flush.MethodNone + 1; m <= flush.MethodDCCVAP; m++ {
		if flush.Available(m) {
			in.FlushMethods = append(in.FlushMethods, m.String())
		}
	}
	if path == "" {
		return in, nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("daxkv: info %s: %w", path, err)
	}
	in.Path = path
	switch err := daxmap.ProbeSync(path); {
	case err == nil:
		in.MapSync = new(true)
	case errors.Is(err, daxmap.ErrDAXUnsupported):
		in.MapSync = new(false)
		in.MapSyncWhyNot = "the kernel refuses it here: " + trimPrefix(err.Error())
	default:
		in.MapSyncWhyNot = "not probed: " + trimPrefix(err.Error())
	}
	if fi.IsDir() || !fi.Mode().IsRegular() {
		return in, nil
	}
	f, err := os.Open(path)
	if err != nil {
		in.PoolError = trimPrefix(err.Error())
		return in, nil
	}
	sb, err := recovery.PeekSuperblock(f)
	f.Close()
	if err != nil {
		in.PoolError = trimPrefix(err.Error())
		return in, nil
	}
	in.Pool = &jsonHeader{
		Version: sb.Version, UUID: hex.EncodeToString(sb.UUID[:]), ChunkSize: sb.ChunkSize, FileSize: fi.Size(),
		Generation: sb.Generation, Clean: sb.Clean(), PreferredMode: prefName(sb.Preferred), SeqFloor: sb.SeqFloor,
	}
	// The persistence domain is read with the mapping: a read-only open,
	// which a writer's lock refuses.
	db, err := kv.Open(path, &kv.Options{ReadOnly: true, LockWait: wait})
	if err != nil {
		in.PoolError = trimPrefix(err.Error())
		return in, nil
	}
	in.PersistenceDomain, in.DomainRead = db.Stats().PersistenceDomain, true
	if err := db.Close(); err != nil {
		in.PoolError = trimPrefix(err.Error())
	}
	return in, nil
}

func printInfo(cmd *cobra.Command, in *jsonInfo) {
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "cpu             %s, flush instructions %v, daxkv uses %s\n", in.Arch, in.FlushMethods, in.FlushMethod)
	if in.Path == "" {
		return
	}
	switch {
	case in.MapSync == nil:
		fmt.Fprintf(w, "map_sync        unknown at %s: %s\n", in.Path, in.MapSyncWhyNot)
	case *in.MapSync:
		fmt.Fprintf(w, "map_sync        granted at %s\n", in.Path)
	default:
		fmt.Fprintf(w, "map_sync        not granted at %s: %s\n", in.Path, in.MapSyncWhyNot)
	}
	if in.DomainRead {
		domain := in.PersistenceDomain
		if domain == "" {
			domain = "not reported by the kernel"
		}
		fmt.Fprintf(w, "persistence     %s\n", domain)
	}
	if h := in.Pool; h != nil {
		fmt.Fprintf(w, "pool            format %d, uuid %s, chunks of %d, file of %d bytes\n", h.Version, h.UUID, h.ChunkSize, h.FileSize)
		fmt.Fprintf(w, "header          generation %d, clean shutdown %v, preferred mode %s, sequence floor %d\n", h.Generation, h.Clean, h.PreferredMode, h.SeqFloor)
	}
	if in.PoolError != "" {
		fmt.Fprintf(w, "pool error      %s\n", in.PoolError)
	}
}

// prefName names a pool's on-media preferred mode as --mode spells it.
func prefName(p recovery.PrefMode) string {
	switch p {
	case recovery.PrefAuto:
		return "auto"
	case recovery.PrefOn:
		return "on"
	case recovery.PrefOff:
		return "off"
	case recovery.PrefEmulated:
		return "emulated"
	}
	return fmt.Sprintf("unknown (%d)", uint32(p))
}
