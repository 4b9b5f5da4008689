// SPDX-License-Identifier: Apache-2.0

// Command testsummary reads `go test -json` on stdin, prints the usual
// per-package lines (and the full output of every failed or skipped-with-
// reason test), and ends with one line "N passed, N failed, N skipped"
// counting tests. It exits 1 if anything failed.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

func main() {
	out := map[string][]string{} // package/test -> output lines
	var passed, failed, skipped int
	var failedNames []string
	pkgFailed := false
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if json.Unmarshal(line, &e) != nil {
			fmt.Println(string(line)) // build errors and the like come as plain text
			continue
		}
		key := e.Package + "/" + e.Test
		switch e.Action {
		case "output":
			out[key] = append(out[key], e.Output)
		case "pass":
			if e.Test != "" {
				passed++
			} else {
				fmt.Printf("ok  \t%s\t%.3fs\n", e.Package, e.Elapsed)
			}
			delete(out, key)
		case "skip":
			if e.Test != "" {
				skipped++
				// Say why a test skipped (missing capability), once.
				for _, l := range out[key] {
					if strings.Contains(l, "SKIP") || strings.Contains(l, "skip") {
						fmt.Print("    " + strings.TrimSpace(l) + "\n")
					}
				}
			} else {
				fmt.Printf("?   \t%s\t[no test files]\n", e.Package)
			}
			delete(out, key)
		case "fail":
			if e.Test != "" {
				failed++
				failedNames = append(failedNames, key)
				fmt.Printf("--- FAIL: %s\n", key)
				for _, l := range out[key] {
					fmt.Print("    " + l)
				}
			} else {
				pkgFailed = true
				fmt.Printf("FAIL\t%s\t%.3fs\n", e.Package, e.Elapsed)
				for _, l := range out[key] {
					fmt.Print("    " + l)
				}
			}
			delete(out, key)
		}
	}
	if len(failedNames) > 0 {
		fmt.Println("failed tests:")
		for _, n := range failedNames {
			fmt.Println("  " + n)
		}
	}
	fmt.Printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped)
	if failed > 0 || pkgFailed {
		os.Exit(1)
	}
}
