package peer

import (
	"testing"
	"time"
)

// Mix is what RunCallMix ran.
type Mix struct {
	// Runs are the UAC runs, in order.
	Runs []SippRun
	// Calls is the number of calls placed, one Call-ID each.
	Calls int
	// Invites is the number of INVITE requests sent to the proxy, counting
	// the one challenged with 407; the proxy calls hlog() once for each.
	Invites int
}

// mixRun is one line of the call mix.
type mixRun struct {
	scenario string
	service  string
	calls    int
	invites  int // INVITE requests per call
}

// callMix is the fixed traffic RunCallMix sends. Services select the proxy's
// routing: "404…" is rejected by the proxy, "auth…" is challenged, "busy…"
// goes to the UAS answering 486, "cancel…" to the UAS that only rings.
func callMix() []mixRun {
	return []mixRun{
		{ScenarioUAC, "bob", 2, 1},
		{ScenarioUACBusy, "busy-carol", 1, 1},
		{ScenarioUAC404, "404-nobody", 1, 1},
		{ScenarioUACAuth, "auth-dave", 1, 2},
		{ScenarioUACCancel, "cancel-erin", 1, 1},
		{ScenarioRegister, AuthUser, 1, 0},
		{ScenarioOptions, "", 1, 0},
	}
}

// RunCallMix drives a small, fixed mix of SIP traffic through the proxy k
// from sipp on k.Hosts.UAC: two answered calls, one busy (486), one rejected
// by the proxy (404), one authenticated with a 407 challenge, one cancelled
// while ringing, one REGISTER with a 401 challenge and one OPTIONS to the
// proxy. The first call on k starts the answering sipp instances on k.Hosts
// (they run until the test ends). It returns when every UAC run has completed
// successfully; the whole mix takes about three seconds.
func RunCallMix(t testing.TB, k *Kamailio) Mix {
	t.Helper()
	k.uasOnce.Do(func() {
		StartSippUAS(t, SippRun{Scenario: ScenarioUAS, Local: k.Hosts.UAS})
		StartSippUAS(t, SippRun{Scenario: ScenarioUASBusy, Local: k.Hosts.UASBusy})
		StartSippUAS(t, SippRun{Scenario: ScenarioUASRing, Local: k.Hosts.UASRing})
	})
	var m Mix
	for _, r := range callMix() {
		run := SippRun{
			Scenario: r.scenario,
			Local:    k.Hosts.UAC,
			Remote:   k.Addr(),
			Service:  r.service,
			Calls:    r.calls,
			Rate:     10,
			Timeout:  15 * time.Second,
		}
		RunSipp(t, run)
		m.Runs = append(m.Runs, run)
		m.Calls += r.calls
		m.Invites += r.calls * r.invites
	}
	return m
}
