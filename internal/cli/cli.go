// SPDX-License-Identifier: Apache-2.0

// Package cli holds the subcommands of the contrail binary: each parses
// its configuration and runs its component until the context ends.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

func register(name, summary string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	commands[name] = command{summary: summary, run: run}
}

// Version is set at build time with -ldflags "-X .../internal/cli.Version=...".
var Version = "dev"

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: contrail <command> [options]")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'contrail <command> -h' for the options of a command.")
}

// Main runs the subcommand named by args[0] and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintln(stdout, "contrail", Version)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "contrail: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	err := cmd.run(ctx, args[1:], stdout, stderr)
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	default:
		msg := err.Error()
		if !strings.HasPrefix(msg, "contrail") {
			msg = "contrail " + args[0] + ": " + msg
		}
		fmt.Fprintln(stderr, msg)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
}

// usageError marks bad command-line input (exit code 2).
type usageError struct{ error }
