package localrt

// priority is the CPU priority a container was prepared at: containers
// prepared ahead of demand are made at nice.Lowest (package nice), and
// get scfd's own priority back when they start, before their init execs
// the function's process.
type priority int

const (
	foreground priority = iota // scfd's own: on a call's or a deploy's path
	background                 // nice.Lowest: ahead of demand (nice.Background)
)
