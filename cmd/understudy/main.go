// Command understudy keeps a virtual assistant answering when the LLM
// providers behind it fail. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/understudy/understudy"
	"github.com/understudy/understudy/simulate"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "understudy:", err)
		}
		os.Exit(exitCode(err))
	}
}

func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) || errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

var errUsage = errors.New("usage")

const usage = `understudy keeps a virtual assistant answering when its LLM providers fail.

Usage:
  understudy serve [-config FILE]     run the gateway (default config: understudy.yaml)
  understudy check FILE               validate a config file and print the effective routes
  understudy simulate [flags]         run fault-injecting fake LLM providers
  understudy demo [flags]             run the simulator and the gateway together, with a scripted outage
  understudy drill [-out DIR] PLAN    run a continuity drill plan against the team's config; report pass/fail
  understudy migrate [-config FILE]   apply the store's pending migrations and list them
  understudy backup [-config FILE] OUT  copy the SQLite store to OUT while it is in use
  understudy incident SUBCOMMAND      list, show, create, update, resolve, reopen or merge incidents
  understudy maintenance SUBCOMMAND   list, schedule or cancel maintenance windows
  understudy token SUBCOMMAND         create, list or revoke admin tokens
  understudy version                  print the version

The incident, maintenance and token commands talk to a running server's
admin API: -server URL (default $UNDERSTUDY_SERVER, else http://127.0.0.1:8080),
-json for the raw answer; the token is read from $UNDERSTUDY_TOKEN.

Run "understudy COMMAND -h" for a command's flags.
`

// run is the whole program; main only supplies the process's environment.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "check":
		return runCheck(rest, getenv, stdout, stderr)
	case "simulate":
		return runSimulate(ctx, rest, stdout, stderr)
	case "demo":
		return runDemo(ctx, rest, getenv, stdout, stderr)
	case "drill":
		return runDrill(ctx, rest, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, getenv, stdout, stderr)
	case "backup":
		return runBackup(ctx, rest, getenv, stdout, stderr)
	case "incident":
		return runIncident(ctx, rest, getenv, stdout, stderr)
	case "maintenance":
		return runMaintenance(ctx, rest, getenv, stdout, stderr)
	case "token":
		return runToken(ctx, rest, getenv, stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "understudy", understudy.Version)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "unknown command %q\n\n%s", cmd, usage)
	return errUsage
}

func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return simulate.Run(ctx, args, stdout, stderr)
}
