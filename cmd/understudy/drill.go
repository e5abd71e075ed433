package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/understudy/understudy/drill"
)

// errDrillFailed: the drill ran and at least one objective was not met.
var errDrillFailed = errors.New("drill failed")

// runDrill runs a continuity drill plan and writes its report.
func runDrill(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("drill", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "directory of the reports (default: the plan's directory)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: understudy drill [-out DIR] PLAN.yaml")
		fmt.Fprintln(stderr, "Plays the plan's scripted interruptions through the simulator against the team's")
		fmt.Fprintln(stderr, "configuration, writes PLAN.report.md and PLAN.report.html, and exits non-zero when")
		fmt.Fprintln(stderr, "an objective is not met (see docs/drills.md).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	plan, err := drill.Load(fs.Arg(0))
	if err != nil {
		return err
	}
	res, err := drill.Run(ctx, plan, drill.Options{Progress: stderr})
	if err != nil {
		return err
	}
	md, html, err := drill.WriteReports(res, *out)
	if err != nil {
		return err
	}
	drill.WriteSummary(stdout, res)
	fmt.Fprintf(stdout, "  report: %s, %s\n", md, html)
	if !res.Passed {
		failed := 0
		for _, o := range res.Objectives {
			if !o.Pass {
				failed++
			}
		}
		return fmt.Errorf("%w: %d of %d objectives not met (see %s)", errDrillFailed, failed, len(res.Objectives), md)
	}
	return nil
}
