package inspect

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Process is a running Go program.
type Process struct {
	PID       int    `json:"pid"`
	Exe       string `json:"exe"`
	Cmdline   string `json:"cmdline"`
	GoVersion string `json:"goVersion"`
	Module    string `json:"module"`
}

// GoProcesses lists the running Go programs this user can inspect, those
// whose main module is module first, then newest first.
func GoProcesses(module string) []Process {
	ents, _ := os.ReadDir("/proc")
	self := os.Getpid()
	var ps []Process
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		dir := filepath.Join("/proc", e.Name())
		exe, err := os.Readlink(filepath.Join(dir, "exe"))
		if err != nil {
			continue
		}
		f, err := os.Open(filepath.Join(dir, "exe"))
		if err != nil {
			continue
		}
		info, err := readBuildInfo(f)
		f.Close()
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
		ps = append(ps, Process{
			PID:       pid,
			Exe:       strings.TrimSuffix(exe, " (deleted)"),
			Cmdline:   strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " ")),
			GoVersion: info.GoVersion,
			Module:    info.Main.Path,
		})
	}
	sort.SliceStable(ps, func(i, j int) bool {
		mi, mj := module != "" && ps[i].Module == module, module != "" && ps[j].Module == module
		if mi != mj {
			return mi
		}
		return ps[i].PID > ps[j].PID
	})
	return ps
}
