//go:build mutants

package crash

import "testing"

// TestGateCatchesEveryMutant is the mutation gate as a test: with the
// mutants build tag, every mutant must make the suite report a violation.
func TestGateCatchesEveryMutant(t *testing.T) {
	ws, err := Tier("gate", 1)
	if err != nil {
		t.Fatal(err)
	}
	results, err := Gate(Config{Seed: 1}, ws)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if !r.Caught {
			t.Errorf("mutant %s (%s) not caught", r.Name, r.Site)
		} else {
			t.Logf("mutant %s caught: %.160s", r.Name, r.Example)
		}
	}
}
