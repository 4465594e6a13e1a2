// Command uprobecost times calls to tiny functions whose first instruction
// is of one class each (see classes_amd64.s). The benchmark attaches a bare
// tracefs uprobe to one function at a time and compares the time per call:
// the difference is what the kernel spends on one probe hit at an
// instruction of that class.
//
//	uprobecost list        class names and symbols, one per line
//	uprobecost run CLASS   ns per call of that class's function
package main

import (
	"fmt"
	"os"
	"time"
)

type class struct {
	name string // as the helper's ready record names instruction classes
	sym  string
	fn   func()
}

const calls = 200000

func main() {
	if len(os.Args) == 2 && os.Args[1] == "list" {
		for _, c := range classes {
			fmt.Println(c.name, c.sym)
		}
		return
	}
	if len(os.Args) != 3 || os.Args[1] != "run" {
		fmt.Fprintln(os.Stderr, "usage: uprobecost list | uprobecost run CLASS")
		os.Exit(2)
	}
	for _, c := range classes {
		if c.name != os.Args[2] {
			continue
		}
		best := time.Duration(1 << 62)
		for r := 0; r < 3; r++ {
			t0 := time.Now()
			for i := 0; i < calls; i++ {
				c.fn()
			}
			best = min(best, time.Since(t0))
		}
		fmt.Printf("%.1f\n", float64(best.Nanoseconds())/calls)
		return
	}
	fmt.Fprintf(os.Stderr, "unknown class %q\n", os.Args[2])
	os.Exit(2)
}
