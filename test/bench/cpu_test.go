package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuUse is the CPU time spent by the parts of a benchmark run, counted
// from /proc: scfd (this process, the load generator of pace included),
// the function's processes (children of this process named server, as
// the instance's image runs /server, or webfunc, the direct server),
// nginx, wrk, and the whole machine (every process, other engineers'
// included).
type cpuUse struct {
	scfd, function, nginx, wrk, machine time.Duration
	wall                                time.Duration
	at                                  time.Time
}

// clockTick is the unit of /proc's CPU times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// sampleCPU reads the CPU time spent so far.
func sampleCPU() cpuUse {
	u := cpuUse{at: time.Now()}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		u.scfd = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	self := os.Getpid()
	type proc struct {
		comm string
		ppid int
		cpu  time.Duration
	}
	procs := map[int]proc{}
	dirs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... utime stime: fields 14 and 15.
		open, close := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if open < 0 || close < open {
			continue
		}
		f := strings.Fields(string(b[close+1:]))
		if len(f) < 13 {
			continue
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b[:open])))
		ppid, _ := strconv.Atoi(f[1])
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		procs[pid] = proc{comm: string(b[open+1 : close]), ppid: ppid, cpu: time.Duration(ut+st) * clockTick}
	}
	for _, p := range procs {
		parent := procs[p.ppid]
		switch {
		case p.ppid == self && (p.comm == "server" || p.comm == "webfunc"):
			u.function += p.cpu
		case p.comm == "nginx" && (p.ppid == self || parent.comm == "nginx" && parent.ppid == self):
			u.nginx += p.cpu
		case p.comm == "wrk" && p.ppid == self:
			u.wrk += p.cpu
		}
	}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
		for i := 1; i < len(f); i++ {
			if i == 4 || i == 5 { // idle, iowait
				continue
			}
			n, _ := strconv.ParseInt(f[i], 10, 64)
			u.machine += time.Duration(n) * clockTick
		}
	}
	return u
}

// since is the CPU time spent from u0 to u; wrk's own time is what it
// reported when it exited (it is gone by now).
func (u cpuUse) since(u0 cpuUse, wrk time.Duration) cpuUse {
	return cpuUse{
		scfd: u.scfd - u0.scfd, function: u.function - u0.function, nginx: u.nginx - u0.nginx,
		wrk: wrk, machine: u.machine - u0.machine, wall: u.at.Sub(u0.at), at: u.at,
	}
}

// cores is d as a share of the wall time, in cores.
func (u cpuUse) cores(d time.Duration) float64 {
	if u.wall <= 0 {
		return 0
	}
	return float64(d) / float64(u.wall)
}
