package crash

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	"github.com/cespare/xxhash/v2"

	"github.com/daxkv/daxkv/kv"
)

// Fixture is a crash image that broke a promise, shrunk, kept with what it
// takes to judge it again: the regression test of the bug that made it. A
// fixture directory holds the image ("image", a pool file) and this record
// ("fixture.json").
type Fixture struct {
	Workload  string              `json:"workload"`  // the operations, in Parse's syntax
	Where     string              `json:"where"`     // the crash point, and the path
	Mode      string              `json:"mode"`      // the mode to open the image in
	Allowed   []map[string]string `json:"allowed"`   // the states the recovered pool may hold
	Preferred []string            `json:"preferred"` // the preferred mode of each allowed state
	Violation string              `json:"violation"` // what the suite reported when it was made
	Units     int                 `json:"units"`     // units (lines or pages) not durable, after shrinking
}

const maxFixtures = 10

var fixtureName = regexp.MustCompile(`[^a-zA-Z0-9.-]+`)

// saveFixture shrinks a violating crash image and writes it under
// cfg.Fixtures; path is the checker's scratch file.
func (r *runner) saveFixture(path string, j job, msg string) {
	r.mu.Lock()
	n := r.fixtures
	r.fixtures++
	r.mu.Unlock()
	if r.cfg.Fixtures == "" || n >= maxFixtures {
		return
	}
	img, units := r.shrink(path, j)
	f := Fixture{Workload: j.ops, Where: j.what, Mode: j.mode.String(), Violation: msg, Units: units}
	for _, a := range j.allowed {
		f.Allowed = append(f.Allowed, a.kv)
		f.Preferred = append(f.Preferred, a.mode.String())
	}
	name := fixtureName.ReplaceAllString(fmt.Sprintf("%s-%016x", j.label, xxhash.Sum64(img)), "-")
	dir := filepath.Join(r.cfg.Fixtures, name)
	b, err := json.MarshalIndent(f, "", "  ")
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "image"), img, 0o600)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "fixture.json"), append(b, '\n'), 0o644)
	}
	if err != nil {
		r.violation("fixture", "writing "+dir+": "+err.Error())
	}
}

// shrink returns the violating image with as many of its units as can be
// turned back to the durable image while it still violates (one greedy
// pass, units of the path's granularity), and how many units stay.
func (r *runner) shrink(path string, j job) ([]byte, int) {
	unit := 64
	if j.mode == kv.DAXOff {
		unit = 4096
	}
	img := append([]byte(nil), j.img...)
	var units []int
	for u := 0; u+unit <= len(img) && u+unit <= len(j.base); u += unit {
		if string(img[u:u+unit]) != string(j.base[u:u+unit]) {
			units = append(units, u)
		}
	}
	kept := len(units)
	for _, u := range units {
		try := append([]byte(nil), img...)
		copy(try[u:u+unit], j.base[u:u+unit])
		nj := j
		nj.img = try
		if r.judge(path, nj, nil) != "" {
			img = try
			kept--
		}
	}
	return img, kept
}

// LoadFixtures reads every fixture under dir (one directory each).
func LoadFixtures(dir string) (map[string]Fixture, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]Fixture{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "fixture.json"))
		if err != nil {
			return nil, err
		}
		var f Fixture
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("crash: fixture %s: %w", e.Name(), err)
		}
		out[e.Name()] = f
	}
	return out, nil
}

// Replay opens the fixture's image (a copy of it, at path) with the real
// recovery and judges it as the suite did; it returns what is wrong, or "".
func (f Fixture) Replay(image, path string) string {
	img, err := os.ReadFile(image)
	if err != nil {
		return err.Error()
	}
	mode, err := kv.ParseDAXMode(f.Mode)
	if err != nil {
		return err.Error()
	}
	j := job{img: img, mode: mode, label: "fixture", what: f.Where}
	for i, a := range f.Allowed {
		st := state{kv: a}
		if i < len(f.Preferred) {
			st.mode, _ = kv.ParseDAXMode(f.Preferred[i])
		}
		j.allowed = append(j.allowed, st)
	}
	r := &runner{cfg: Config{}.withDefaults(), rep: &Report{Sites: map[string]int{}}}
	return r.judge(path, j, nil)
}

// FixtureNames lists the fixtures of a directory in order.
func FixtureNames(fs map[string]Fixture) []string {
	names := make([]string, 0, len(fs))
	for n := range fs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
