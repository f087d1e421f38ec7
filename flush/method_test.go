package flush

import (
	"runtime"
	"testing"
)

func TestMethodString(t *testing.T) {
	tests := []struct {
		m    Method
		want string
	}{
		{MethodNone, "none"},
		{MethodCLFLUSH, "clflush"},
		{MethodCLFLUSHOPT, "clflushopt"},
		{MethodCLWB, "clwb"},
		{MethodDCCVAC, "dc cvac"},
		{MethodDCCVAP, "dc cvap"},
		{Method(42), "Method(42)"},
		{Method(-1), "Method(-1)"},
	}
	for _, tt := range tests {
		if got := tt.m.String(); got != tt.want {
			t.Errorf("Method(%d).String() = %q, want %q", int(tt.m), got, tt.want)
		}
	}
}

func TestParseMethod(t *testing.T) {
	tests := []struct {
		in      string
		want    Method
		wantErr bool
	}{
		{"none", MethodNone, false},
		{"clflush", MethodCLFLUSH, false},
		{"clflushopt", MethodCLFLUSHOPT, false},
		{"clwb", MethodCLWB, false},
		{"dc cvac", MethodDCCVAC, false},
		{"dc cvap", MethodDCCVAP, false},
		{"cvac", MethodDCCVAC, false},
		{"cvap", MethodDCCVAP, false},
		{" CLWB\n", MethodCLWB, false},
		{"DC CVAP", MethodDCCVAP, false},
		{"", MethodNone, true},
		{"clflush2", MethodNone, true},
		{"dccvac", MethodNone, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMethod(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseMethod(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Fatalf("ParseMethod(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
	for m := MethodNone; m <= MethodDCCVAP; m++ {
		if got, err := ParseMethod(m.String()); err != nil || got != m {
			t.Errorf("ParseMethod(%q) = %v, %v; want %v", m.String(), got, err, m)
		}
	}
}

func TestAvailableByArch(t *testing.T) {
	if !Available(MethodNone) {
		t.Error("MethodNone must always be available")
	}
	if Available(Method(99)) {
		t.Error("an unknown method must not be available")
	}
	best := cpuBest()
	if !Available(best) {
		t.Errorf("the best method %v is not available", best)
	}
	switch runtime.GOARCH {
	case "amd64":
		// CLFLUSH has been part of every x86-64 CPU since the first.
		if !Available(MethodCLFLUSH) {
			t.Error("amd64 without CLFLUSH")
		}
		if Available(MethodDCCVAC) || Available(MethodDCCVAP) {
			t.Error("arm64 methods reported available on amd64")
		}
		want := MethodCLFLUSH
		if Available(MethodCLFLUSHOPT) {
			want = MethodCLFLUSHOPT
		}
		if Available(MethodCLWB) {
			want = MethodCLWB
		}
		if best != want {
			t.Errorf("best method = %v, want %v", best, want)
		}
	case "arm64":
		if !Available(MethodDCCVAC) {
			t.Error("arm64 without DC CVAC")
		}
		if Available(MethodCLFLUSH) || Available(MethodCLWB) || Available(MethodCLFLUSHOPT) {
			t.Error("amd64 methods reported available on arm64")
		}
		want := MethodDCCVAC
		if Available(MethodDCCVAP) {
			want = MethodDCCVAP
		}
		if best != want {
			t.Errorf("best method = %v, want %v", best, want)
		}
	default:
		if best != MethodNone {
			t.Errorf("best method = %v on %s, want none", best, runtime.GOARCH)
		}
	}
}

func TestDetectForce(t *testing.T) {
	best := cpuBest()
	t.Run("unset", func(t *testing.T) {
		t.Setenv(EnvFlush, "")
		if got := Detect(); got != best {
			t.Errorf("Detect() with %s empty = %v, want %v", EnvFlush, got, best)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		t.Setenv(EnvFlush, "bogus")
		if got := Detect(); got != best {
			t.Errorf("Detect() with %s=bogus = %v, want %v", EnvFlush, got, best)
		}
	})
	t.Run("none", func(t *testing.T) {
		t.Setenv(EnvFlush, "none")
		if got := Detect(); got != MethodNone {
			t.Errorf("Detect() with %s=none = %v, want none", EnvFlush, got)
		}
	})
	t.Run("clflush", func(t *testing.T) {
		t.Setenv(EnvFlush, "clflush")
		want := best
		if Available(MethodCLFLUSH) {
			want = MethodCLFLUSH
		}
		if runtime.GOARCH == "amd64" && want != MethodCLFLUSH {
			t.Fatal("amd64 must honour clflush")
		}
		if got := Detect(); got != want {
			t.Errorf("Detect() with %s=clflush = %v, want %v", EnvFlush, got, want)
		}
	})
	for _, name := range []string{"none", "clflush", "clflushopt", "clwb", "dc cvac", "dc cvap", "cvac", "cvap", "CVAC"} {
		t.Run("name="+name, func(t *testing.T) {
			m, err := ParseMethod(name)
			if err != nil {
				t.Fatal(err)
			}
			t.Setenv(EnvFlush, name)
			want := best // a method the CPU lacks is ignored
			if Available(m) {
				want = m
			}
			if got := Detect(); got != want {
				t.Errorf("Detect() with %s=%q = %v, want %v", EnvFlush, name, got, want)
			}
		})
	}
}
