package api

// NewWithActions is New with more actions, for the tests of the envelope
// and of errors.
func NewWithActions(opts Options, more map[string]HandlerFunc) *Server {
	return newServer(opts, more)
}

// ActionRights is the table of who may call what.
var ActionRights = actionRights

// Actions lists the server's actions.
func (s *Server) Actions() []string {
	var out []string
	for a := range s.actions {
		out = append(out, a)
	}
	return out
}
