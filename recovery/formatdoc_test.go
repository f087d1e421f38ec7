package recovery

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite FORMAT.md's layout drawings from the code")

// layouts returns the drawings of the code's format comments: a comment line
// "// Layout: NAME (part of the format: do not change)..." starts one, and
// its drawing is the next run of comment lines indented with a tab.
func layouts(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}

	start := regexp.MustCompile(`^// Layout: ([a-z ]+) \(part of the format: do not change\)`)
	out := map[string]string{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name, drawing := "", []string(nil)
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			line := sc.Text()
			if m := start.FindStringSubmatch(line); m != nil {
				name, drawing = m[1], nil
				continue
			}
			switch {
			case name == "":
			case strings.HasPrefix(line, "//\t"):
				drawing = append(drawing, strings.TrimPrefix(line, "//\t"))
			case len(drawing) > 0 || !strings.HasPrefix(line, "//"):
				if len(drawing) == 0 {
					t.Fatalf("%s: layout %q has no drawing", f, name)
				}
				out[name] = strings.Join(drawing, "\n")
				name = ""
			}
		}
	}
	return out
}

// TestFormatDocMatchesCode: FORMAT.md carries every layout drawing of the
// code, exactly, so that the code is the one source of truth for the bytes
// on the media. Run with -update to copy the drawings over.
func TestFormatDocMatchesCode(t *testing.T) {
	if src, _ := filepath.Glob("*.go"); len(src) == 0 {
		t.Skip("run away from the source tree (a cross-compiled test binary): nothing to compare")
	}
	path := filepath.Join("..", "FORMAT.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	lay := layouts(t)
	if len(lay) < 4 {
		t.Fatalf("found %d layouts in the code, want pool, superblock, record and batch log slot", len(lay))
	}
	for name, drawing := range lay {
		marker := fmt.Sprintf("<!-- layout: %s (copied from the code by go test ./recovery -run TestFormatDoc -update) -->\n```\n", name)
		i := strings.Index(text, marker)
		if i < 0 {
			t.Errorf("FORMAT.md has no drawing of the %s layout (want a block after %q)", name, strings.TrimSpace(marker))
			continue
		}
		body := i + len(marker)
		j := strings.Index(text[body:], "\n```")
		if j < 0 {
			t.Fatalf("FORMAT.md: the %s drawing is not closed", name)
		}
		if text[body:body+j] == drawing {
			continue
		}
		if !*update {
			t.Errorf("FORMAT.md's %s drawing differs from the code's; run go test ./recovery -run TestFormatDoc -update", name)
			continue
		}
		text = text[:body] + drawing + text[body+j:]
	}
	if *update && text != string(doc) {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
