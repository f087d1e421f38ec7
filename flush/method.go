package flush

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Method is a CPU instruction that writes a cache line back towards the
// media. Within one architecture a larger value is a better method.
type Method int

// The flush methods. MethodNone means no CPU flush instruction is usable and
// the store must use the msync path.
const (
	MethodNone       Method = iota // no CPU flush instruction usable (use the msync path)
	MethodCLFLUSH                  // amd64 CLFLUSH: writes back and evicts; serialized
	MethodCLFLUSHOPT               // amd64 CLFLUSHOPT: writes back and evicts; weakly ordered
	MethodCLWB                     // amd64 CLWB: writes back and may keep the line cached
	MethodDCCVAC                   // arm64 DC CVAC: clean to the point of coherency
	MethodDCCVAP                   // arm64 DC CVAP: clean to the point of persistence
)

// EnvFlush is the environment variable that forces a flush method; see
// Detect.
const EnvFlush = "DAXKV_FLUSH"

var methodNames = [...]string{
	MethodNone:       "none",
	MethodCLFLUSH:    "clflush",
	MethodCLFLUSHOPT: "clflushopt",
	MethodCLWB:       "clwb",
	MethodDCCVAC:     "dc cvac",
	MethodDCCVAP:     "dc cvap",
}

// String returns the method's name: "none", "clflush", "clflushopt", "clwb",
// "dc cvac" or "dc cvap".
func (m Method) String() string {
	if m >= 0 && int(m) < len(methodNames) {
		return methodNames[m]
	}
	return "Method(" + strconv.Itoa(int(m)) + ")"
}

// ParseMethod returns the method named s: one of the String names, or the
// short forms "cvac" and "cvap". Case and surrounding space are ignored.
func ParseMethod(s string) (Method, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "cvac":
		return MethodDCCVAC, nil
	case "cvap":
		return MethodDCCVAP, nil
	}
	for m, name := range methodNames {
		if s == name {
			return Method(m), nil
		}
	}
	return MethodNone, fmt.Errorf("daxkv: unknown flush method %q", s)
}

// Detect returns the best flush method of this CPU: on amd64 CLWB, else
// CLFLUSHOPT, else CLFLUSH (CPUID leaves 7 and 1); on arm64 DC CVAP if the CPU
// reports DCPOP, else DC CVAC; on other architectures MethodNone.
//
// DAXKV_FLUSH, when set to a method name accepted by ParseMethod, forces that
// method if Available reports this CPU can execute it ("none" forces the
// msync path). Unknown names and methods the CPU lacks are ignored. The
// variable exists because DC CVAP raises SIGILL under qemu-user even where
// the emulated CPU reports DCPOP, so tests there must be able to force DC
// CVAC. The environment is read on every call; the CPU only once.
func Detect() Method {
	if v, ok := os.LookupEnv(EnvFlush); ok {
		if m, err := ParseMethod(v); err == nil && Available(m) {
			return m
		}
	}
	return cpuBest()
}

// Available reports whether this CPU can execute m. MethodNone is always
// available: it executes nothing.
func Available(m Method) bool {
	if m == MethodNone {
		return true
	}
	return cpuHas(m)
}
