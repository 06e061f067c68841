// Command report runs azid's benchmarks side by side with azidentity's and
// writes docs/BENCHMARKS.md: the machine, medians per workload for both
// implementations, their ratio, and azid's performance targets checked
// against azid's figures.
//
// Run it from the bench module (or the repository root):
//
//	cd bench && go run ./cmd/report
//
// It builds the BenchmarkCompare test binary once, runs each workload for
// the rounds and -benchtime its plan gives (slow workloads run fewer times;
// the whole takes 5–7 minutes), runs the engine benchmarks of
// internal/tokencache, and rewrites ../docs/BENCHMARKS.md. Flags:
//
//	-o FILE    write the report elsewhere
//	-raw FILE  also keep the raw go test output (with the machine details)
//	-in FILE   render from such a raw file instead of running anything
//	-only RE   run only the workloads whose names match RE
//	-quick     one short run per workload, to check the pipeline; the
//	           report says it is not representative
//	-engine=false  skip the engine benchmarks
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

const (
	benchModule = "github.com/azid-go/azid/bench"
	rootModule  = "github.com/azid-go/azid"
	// regenerate is the command the report tells readers to run.
	regenerate = "cd bench && go run ./cmd/report"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

type config struct {
	out, raw, in string
	only         *regexp.Regexp
	quick        bool
	engine       bool
}

func run(ctx context.Context, args []string, logw io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	var cfg config
	var only string
	fs.StringVar(&cfg.out, "o", "", "output file (default: docs/BENCHMARKS.md in the repository)")
	fs.StringVar(&cfg.raw, "raw", "", "also write the raw go test output, with machine details, to this file")
	fs.StringVar(&cfg.in, "in", "", "render from a file written by -raw instead of running benchmarks")
	fs.StringVar(&only, "only", "", "run only workloads whose names match this regexp")
	fs.BoolVar(&cfg.quick, "quick", false, "one short run per workload, to check the pipeline (not representative)")
	fs.BoolVar(&cfg.engine, "engine", true, "also run the engine benchmarks of internal/tokencache")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if only != "" {
		re, err := regexp.Compile(only)
		if err != nil {
			return fmt.Errorf("-only: %w", err)
		}
		cfg.only = re
	}

	benchDir, repoDir, err := findModules(ctx)
	if err != nil {
		return err
	}
	if cfg.out == "" {
		cfg.out = filepath.Join(repoDir, "docs", "BENCHMARKS.md")
	}

	var rawText string
	if cfg.in != "" {
		b, err := os.ReadFile(cfg.in)
		if err != nil {
			return err
		}
		rawText = string(b)
	} else {
		rawText, err = runAll(ctx, cfg, benchDir, repoDir, logw)
		if err != nil {
			return err
		}
		if cfg.raw != "" {
			if err := os.WriteFile(cfg.raw, []byte(rawText), 0o644); err != nil {
				return err
			}
		}
	}

	doc, err := buildDocument(rawText, cfg.quick)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	doc.render(&buf)
	if err := os.WriteFile(cfg.out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(logw, "wrote %s\n", cfg.out)
	return nil
}

// findModules locates the bench module and the repository root from the
// working directory, which may be either.
func findModules(ctx context.Context) (benchDir, repoDir string, err error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", "", errors.New("run this from the bench module or the repository root")
	}
	dir := filepath.Dir(gomod)
	switch modulePath(gomod) {
	case benchModule:
		return dir, filepath.Dir(dir), nil
	case rootModule:
		return filepath.Join(dir, "bench"), dir, nil
	}
	return "", "", fmt.Errorf("%s is neither %s nor %s", gomod, benchModule, rootModule)
}

func modulePath(gomod string) string {
	f, err := os.Open(gomod)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(p), `"`)
		}
	}
	return ""
}

// runAll builds the test binaries, runs every planned workload and the
// engine benchmarks, and returns the raw output with the machine details
// as "# key: value" lines, the format -raw writes and -in reads.
func runAll(ctx context.Context, cfg config, benchDir, repoDir string, logw io.Writer) (string, error) {
	tmp, err := os.MkdirTemp("", "azid-report-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)

	fmt.Fprintln(logw, "building the benchmark binaries...")
	compare := filepath.Join(tmp, "compare.test")
	if err := goCmd(ctx, benchDir, logw, "test", "-c", "-o", compare, ".").Run(); err != nil {
		return "", fmt.Errorf("building BenchmarkCompare: %w", err)
	}
	engine := filepath.Join(tmp, "engine.test")
	if cfg.engine {
		if err := goCmd(ctx, repoDir, logw, "test", "-c", "-o", engine, "./internal/tokencache").Run(); err != nil {
			return "", fmt.Errorf("building the engine benchmarks: %w", err)
		}
	}

	var raw strings.Builder
	m := collectMachine(ctx, benchDir, repoDir)
	start := time.Now()

	var plan []spec
	for _, s := range specs() {
		if cfg.only == nil || cfg.only.MatchString(s.workload) {
			plan = append(plan, s)
		}
	}
	var body strings.Builder
	for i, s := range plan {
		count, benchtime := s.count, s.benchtime
		if cfg.quick {
			count, benchtime = 1, "100ms"
			if s.slow {
				benchtime = "1x"
			}
		}
		before := loadAverage()
		fmt.Fprintf(logw, "[%d/%d] %s: %d rounds, -benchtime %s (load %s, %s elapsed)\n",
			i+1, len(plan), s.workload, count, benchtime, before, time.Since(start).Round(time.Second))
		// One go test run per round, rather than -count: go test repeats
		// each leaf benchmark count times in a row, so a noisy minute on
		// the shared machine would land on one implementation only. Rounds
		// alternate the implementations.
		for range count {
			out, err := runBinary(ctx, compare, benchDir, logw,
				"-test.run", "^$", "-test.bench", benchPattern(s.workload),
				"-test.count", "1", "-test.benchtime", benchtime, "-test.timeout", "60m")
			if err != nil {
				return "", fmt.Errorf("%s: %w", s.workload, err)
			}
			body.WriteString(out)
		}
		fmt.Fprintf(&body, "# load %s: %s %s\n", s.workload, before, loadAverage())
		fmt.Fprintf(&body, "# plan %s: %d %s\n", s.workload, count, benchtime)
	}
	if cfg.engine {
		count := 3
		if cfg.quick {
			count = 1
		}
		fmt.Fprintf(logw, "[engine] internal/tokencache: -count %d (load %s, %s elapsed)\n", count, loadAverage(), time.Since(start).Round(time.Second))
		out, err := runBinary(ctx, engine, filepath.Join(repoDir, "internal", "tokencache"), logw,
			"-test.run", "^$", "-test.bench", ".", "-test.count", strconv.Itoa(count), "-test.timeout", "30m")
		if err != nil {
			return "", fmt.Errorf("engine benchmarks: %w", err)
		}
		body.WriteString(out)
	}
	m.LoadEnd = loadAverage()
	fmt.Fprintf(logw, "done in %s\n", time.Since(start).Round(time.Second))

	m.write(&raw)
	if cfg.quick {
		raw.WriteString("# quick: true\n")
	}
	raw.WriteString(body.String())
	return raw.String(), nil
}

// benchPattern selects one workload of BenchmarkCompare, all
// implementations. go test splits -bench patterns at slashes and matches
// each level separately, so each level of the name is anchored on its own.
func benchPattern(workload string) string {
	parts := []string{"^BenchmarkCompare$"}
	for _, p := range strings.Split(workload, "/") {
		parts = append(parts, "^"+regexp.QuoteMeta(p)+"$")
	}
	return strings.Join(parts, "/")
}

func goCmd(ctx context.Context, dir string, logw io.Writer, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Stdout = logw
	cmd.Stderr = logw
	return cmd
}

// runBinary runs a test binary and returns its output, echoing result
// lines to logw as they come so a long run shows progress.
func runBinary(ctx context.Context, bin, dir string, logw io.Writer, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Stderr = logw
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	var out strings.Builder
	sc := bufio.NewScanner(pipe)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if strings.HasPrefix(line, "Benchmark") || strings.HasPrefix(line, "---") || strings.HasPrefix(line, "FAIL") || strings.HasPrefix(line, "    ") {
			fmt.Fprintln(logw, "  "+line)
		}
	}
	if err := cmd.Wait(); err != nil {
		return "", fmt.Errorf("%s: %w", filepath.Base(bin), err)
	}
	return out.String(), sc.Err()
}

// collectMachine gathers what the report says about the machine and the
// versions compared. Missing details become "unknown" rather than errors:
// they describe the run, they are not its result.
func collectMachine(ctx context.Context, benchDir, repoDir string) machine {
	m := machine{
		CPU:       cpuModel(),
		Cores:     runtime.NumCPU(),
		Kernel:    strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")),
		Go:        cmdOutput(ctx, benchDir, "go", "version"),
		Date:      time.Now().UTC().Format("2006-01-02 15:04 MST"),
		LoadStart: loadAverage(),
	}
	for _, mod := range []string{
		"github.com/Azure/azure-sdk-for-go/sdk/azidentity",
		"github.com/Azure/azure-sdk-for-go/sdk/azcore",
		"github.com/AzureAD/microsoft-authentication-library-for-go",
	} {
		if v := cmdOutput(ctx, benchDir, "go", "list", "-m", "-f", "{{.Path}} {{.Version}}", mod); v != "unknown" {
			m.Versions = append(m.Versions, strings.TrimPrefix(strings.TrimPrefix(v, "github.com/Azure/azure-sdk-for-go/sdk/"), "github.com/AzureAD/"))
		}
	}
	m.Azid = "this repository's working tree"
	if rev := cmdOutput(ctx, repoDir, "git", "rev-parse", "--short", "HEAD"); rev != "unknown" {
		m.Azid = "commit " + rev
		if st := cmdOutput(ctx, repoDir, "git", "status", "--porcelain", "--untracked-files=no"); st != "unknown" && st != "" {
			m.Azid += " with uncommitted changes"
		}
	}
	return m
}

func cpuModel() string {
	for line := range strings.Lines(readFile("/proc/cpuinfo")) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// loadAverage is the 1-minute load average, the quickest sign that
// something else was using the cores.
func loadAverage() string {
	if f := strings.Fields(readFile("/proc/loadavg")); len(f) > 0 {
		return f[0]
	}
	return "unknown"
}

func readFile(name string) string {
	b, _ := os.ReadFile(name)
	return string(b)
}

func cmdOutput(ctx context.Context, dir, name string, args ...string) string {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// write records m as "# key: value" lines at the head of the raw output.
func (m machine) write(w io.Writer) {
	fmt.Fprintf(w, "# cpu-model: %s\n# cores: %d\n# kernel: %s\n# go: %s\n# date: %s\n# load-start: %s\n# load-end: %s\n# azid: %s\n",
		m.CPU, m.Cores, m.Kernel, m.Go, m.Date, m.LoadStart, m.LoadEnd, m.Azid)
	for _, v := range m.Versions {
		fmt.Fprintf(w, "# version: %s\n", v)
	}
}

// buildDocument parses raw output (as runAll returns it or -raw saved it)
// into a document.
func buildDocument(rawText string, quick bool) (*document, error) {
	d := &document{
		specs:   specs(),
		res:     newResults(),
		load:    map[string][2]string{},
		plan:    map[string][2]string{},
		command: regenerate,
		quick:   quick,
	}
	var bench strings.Builder
	// Each round's go test run repeats the goos/pkg/cpu header; benchstat
	// needs a header line only where its value changes.
	header := map[string]string{}
	for line := range strings.Lines(rawText) {
		line = strings.TrimRight(line, "\n")
		if rest, ok := strings.CutPrefix(line, "# "); ok {
			d.m.set(rest, d)
			continue
		}
		if strings.HasPrefix(line, "Benchmark") {
			bench.WriteString(line + "\n")
			continue
		}
		for _, key := range []string{"goos:", "goarch:", "pkg:", "cpu:"} {
			if strings.HasPrefix(line, key) && header[key] != line {
				header[key] = line
				bench.WriteString(line + "\n")
			}
		}
	}
	if err := d.res.parse(strings.NewReader(bench.String())); err != nil {
		return nil, err
	}
	if len(d.res.order) == 0 {
		return nil, errors.New("no benchmark results in the output")
	}
	d.m.GoCPU = d.res.cpu
	d.raw = bench.String()
	return d, nil
}

// set applies one "# key: value" line of raw output.
func (m *machine) set(line string, d *document) {
	k, v, ok := strings.Cut(line, ": ")
	if !ok {
		return
	}
	switch {
	case k == "cpu-model":
		m.CPU = v
	case k == "cores":
		m.Cores, _ = strconv.Atoi(v)
	case k == "kernel":
		m.Kernel = v
	case k == "go":
		m.Go = v
	case k == "date":
		m.Date = v
	case k == "load-start":
		m.LoadStart = v
	case k == "load-end":
		m.LoadEnd = v
	case k == "azid":
		m.Azid = v
	case k == "version":
		m.Versions = append(m.Versions, v)
	case k == "quick":
		d.quick = d.quick || v == "true"
	case strings.HasPrefix(k, "load "):
		if f := strings.Fields(v); len(f) == 2 {
			d.load[strings.TrimPrefix(k, "load ")] = [2]string{f[0], f[1]}
		}
	case strings.HasPrefix(k, "plan "):
		if f := strings.Fields(v); len(f) == 2 {
			d.plan[strings.TrimPrefix(k, "plan ")] = [2]string{f[0], f[1]}
		}
	}
}
