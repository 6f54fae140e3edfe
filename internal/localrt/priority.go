package localrt

// priority is the CPU priority a container was prepared at: containers
// prepared ahead of demand are made with the SCHED_IDLE policy (package
// nice), and get the normal one at scfd's own nice value back when they
// start, before their init execs the function's process.
type priority int

const (
	foreground priority = iota // scfd's own: on a call's or a deploy's path
	background                 // SCHED_IDLE: ahead of demand (nice.Background)
)
