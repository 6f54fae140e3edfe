package api

// NewWithActions is New with more actions, for the tests of the envelope
// and of errors.
func NewWithActions(opts Options, more map[string]HandlerFunc) *Server {
	return newServer(opts, more)
}
