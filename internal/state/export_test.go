package state

// FailNextCommit makes the next Commit of s fail with err inside its
// transaction, after all of its writes (for the conformance suite).
func FailNextCommit(s *Store, err error) {
	s.commitHook = func() error {
		s.commitHook = nil
		return err
	}
}
