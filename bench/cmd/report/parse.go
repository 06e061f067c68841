package main

import (
	"bufio"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// metrics is one benchmark result line: its metrics by unit ("ns/op",
// "allocs/op", "p99-ms", ...).
type metrics map[string]float64

// results are parsed benchmark runs, grouped by workload and
// implementation. Engine benchmarks (not BenchmarkCompare) are kept under
// their full name with an empty implementation.
type results struct {
	runs map[string]map[string][]metrics
	// order is the workloads in the order first seen.
	order []string
	// cpu is the "cpu:" header go test prints.
	cpu string
}

func newResults() *results { return &results{runs: map[string]map[string][]metrics{}} }

// procsSuffix is the "-2" go test appends to names when GOMAXPROCS > 1.
var procsSuffix = regexp.MustCompile(`-\d+$`)

// parse reads go test -bench output and adds every result line to r.
// Anything else (PASS, logs, headers other than cpu:) is skipped, so the
// output of several go test runs can be fed in as they come.
func (r *results) parse(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if cpu, ok := strings.CutPrefix(line, "cpu: "); ok {
			r.cpu = strings.TrimSpace(cpu)
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		// name, iterations, then value-unit pairs.
		if len(f) < 4 || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue
		}
		m := metrics{}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				m = nil
				break
			}
			m[f[i+1]] = v
		}
		if m == nil {
			continue
		}
		workload, impl := splitName(procsSuffix.ReplaceAllString(f[0], ""))
		r.add(workload, impl, m)
	}
	return sc.Err()
}

// splitName splits "BenchmarkCompare/<workload>/impl=<impl>" into workload
// and implementation. Any other name is returned whole, with no
// implementation.
func splitName(name string) (workload, impl string) {
	elems := strings.Split(name, "/")
	if len(elems) >= 3 && elems[0] == "BenchmarkCompare" {
		if i, ok := strings.CutPrefix(elems[len(elems)-1], "impl="); ok {
			return strings.Join(elems[1:len(elems)-1], "/"), i
		}
	}
	return name, ""
}

func (r *results) add(workload, impl string, m metrics) {
	byImpl, ok := r.runs[workload]
	if !ok {
		byImpl = map[string][]metrics{}
		r.runs[workload] = byImpl
		r.order = append(r.order, workload)
	}
	byImpl[impl] = append(byImpl[impl], m)
}

// values are every run's value of unit, in run order.
func (r *results) values(workload, impl, unit string) []float64 {
	var vs []float64
	for _, m := range r.runs[workload][impl] {
		if v, ok := m[unit]; ok {
			vs = append(vs, v)
		}
	}
	return vs
}

// median is the median of unit over the runs, and false when there are
// none. With an even count it is the mean of the middle two.
func (r *results) median(workload, impl, unit string) (float64, bool) {
	vs := r.values(workload, impl, unit)
	return medianOf(vs), len(vs) > 0
}

// count is the number of runs of a workload for an implementation.
func (r *results) count(workload, impl string) int { return len(r.runs[workload][impl]) }

// units lists the units any run of workload reported, ns/op first, then
// alphabetically.
func (r *results) units(workload string) []string {
	seen := map[string]bool{}
	for _, runs := range r.runs[workload] {
		for _, m := range runs {
			for u := range m {
				seen[u] = true
			}
		}
	}
	var us []string
	for u := range seen {
		if u != "ns/op" {
			us = append(us, u)
		}
	}
	slices.Sort(us)
	if seen["ns/op"] {
		us = append([]string{"ns/op"}, us...)
	}
	return us
}
