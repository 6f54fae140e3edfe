package logs

import "sync"

// running holds the invocations begun and not yet Put, by request id, so
// that a request's status is known while it runs (GetRequestStatus).
type running struct {
	mu sync.Mutex
	m  map[string]Entry
}

// Begin records that an invocation started: until its Entry is Put,
// Running reports it with the fields given here (RequestID, Namespace,
// Function, Qualifier, StartTime, RetryNum). It costs the invocation one
// map insertion and nothing on disk.
func (s *Store) Begin(e Entry) {
	s.run.mu.Lock()
	if s.run.m == nil {
		s.run.m = make(map[string]Entry)
	}
	s.run.m[e.RequestID] = e
	s.run.mu.Unlock()
}

// Running returns the invocation of requestID begun and not yet Put.
// When it reports none, a Query made after it sees the invocation's
// entry if it was Put.
func (s *Store) Running(requestID string) (Entry, bool) {
	s.run.mu.Lock()
	defer s.run.mu.Unlock()
	e, ok := s.run.m[requestID]
	return e, ok
}

// end forgets a running invocation once its entry is queued.
func (s *Store) end(requestID string) {
	s.run.mu.Lock()
	delete(s.run.m, requestID)
	s.run.mu.Unlock()
}
