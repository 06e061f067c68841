package entratest

import (
	"fmt"
	"time"
)

// outageWindow is a scheduled outage, by the server's clock.
type outageWindow struct {
	start, end time.Time
}

// SetOutageWindow schedules a full outage from start (inclusive) to end
// (exclusive), measured by the server's clock ([Options.Now]): while the
// clock is inside the window every endpoint answers as with
// [Server.SetOutage](true). With a controllable clock a test can move
// through the window without sleeping, for example to check that a cache
// keeps serving a token during the outage and refreshes after it. Another
// call replaces the window; a zero end clears it. It fails when end is
// before start.
func (s *Server) SetOutageWindow(start, end time.Time) error {
	if end.IsZero() {
		s.window.Store(nil)
		return nil
	}
	if end.Before(start) {
		return fmt.Errorf("entratest: outage window ends (%s) before it starts (%s)", end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	s.window.Store(&outageWindow{start: start, end: end})
	return nil
}

// inOutage reports whether the service is down now: the switch is on or
// the clock is inside the outage window.
func (s *Server) inOutage() bool {
	if s.outage.Load() {
		return true
	}
	w := s.window.Load()
	if w == nil {
		return false
	}
	now := s.now()
	return !now.Before(w.start) && now.Before(w.end)
}
