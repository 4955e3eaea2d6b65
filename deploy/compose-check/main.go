// Command compose-check loads Compose files with the Compose Specification's reference loader
// (github.com/compose-spec/compose-go/v2), as `docker compose config` does, without a Docker engine.
//
// The loader validates the files against the Compose JSON schema, interpolates variables, applies
// extends/includes, normalises the model and checks its consistency (depends_on targets, networks,
// volumes and secrets that are used but not declared). compose-check exits 1 on any error, prints the
// normalised project as JSON on stdout (for the tests to inspect what a real engine would see), and with
// -strict also fails when a variable is used without a value or a default.
//
// Usage: go run . [-strict] [-env KEY=VALUE]... [-quiet] docker-compose.yml [more files...]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/sirupsen/logrus"
)

type envFlags []string

func (e *envFlags) String() string     { return strings.Join(*e, ",") }
func (e *envFlags) Set(v string) error { *e = append(*e, v); return nil }

// warningRecorder keeps the loader's warnings (unset variables, obsolete attributes) so that -strict can fail on them.
type warningRecorder struct {
	mu       sync.Mutex
	messages []string
}

func (w *warningRecorder) Levels() []logrus.Level {
	return []logrus.Level{logrus.WarnLevel, logrus.ErrorLevel}
}

func (w *warningRecorder) Fire(entry *logrus.Entry) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.messages = append(w.messages, entry.Message)
	return nil
}

func main() {
	os.Exit(run())
}

func run() int {
	strict := flag.Bool("strict", false, "fail on loader warnings, such as a variable used without a value or a default")
	quiet := flag.Bool("quiet", false, "print nothing on success")
	osEnv := flag.Bool("os-env", false, "interpolate with this process's environment (default: only -env values)")
	var env envFlags
	flag.Var(&env, "env", "KEY=VALUE available to interpolation (repeatable)")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "compose-check: name at least one compose file")
		return 2
	}

	recorder := &warningRecorder{}
	logrus.SetOutput(os.Stderr)
	logrus.AddHook(recorder)

	files := make([]string, 0, flag.NArg())
	for _, f := range flag.Args() {
		abs, err := filepath.Abs(f)
		if err != nil {
			fmt.Fprintf(os.Stderr, "compose-check: %v\n", err)
			return 1
		}
		files = append(files, abs)
	}

	opts := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(filepath.Dir(files[0])),
		cli.WithEnv(env),
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	}
	if *osEnv {
		opts = append(opts, cli.WithOsEnv)
	}
	options, err := cli.NewProjectOptions(files, opts...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "compose-check: %v\n", err)
		return 1
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintf(os.Stderr, "compose-check: invalid: %v\n", err)
		return 1
	}
	if *strict && len(recorder.messages) > 0 {
		for _, m := range recorder.messages {
			fmt.Fprintf(os.Stderr, "compose-check: warning (strict): %s\n", m)
		}
		return 1
	}
	if *quiet {
		return 0
	}
	out, err := project.MarshalJSON()
	if err != nil {
		fmt.Fprintf(os.Stderr, "compose-check: %v\n", err)
		return 1
	}
	_, _ = os.Stdout.Write(out)
	_, _ = os.Stdout.Write([]byte("\n"))
	return 0
}
