package views

import (
	"strconv"
)

// LadderMessage is one arrow of a call flow.
type LadderMessage struct {
	From, To string // host column keys (ip:port or an alias)
	Label    string // method, or status code and reason
	SDP      bool
	Time     string // capture time as shown
	Delta    string // time since the previous message
	Leg      int    // index of its leg (colour)
	Href     string
	Selected bool
	Copies   int // how many capture points saw it (1 = one)
	Log      bool
}

// Ladder is a positioned call flow, ready to draw as SVG.
type Ladder struct {
	Width, Height int
	Hosts         []LadderHost
	Arrows        []LadderArrow
}

// LadderHost is one column.
type LadderHost struct {
	X     int
	Label string
	Title string
}

// LadderArrow is one positioned message.
type LadderArrow struct {
	X1, X2, Y   int
	LabelX      int
	Label       string
	Time, Delta string
	Color       string
	Href        string
	Selected    bool
	Head        string // the arrowhead polygon's points
	Self        bool   // from and to are the same column
	// Log: a log line, drawn as a diamond marker at its node's column at its
	// time (Head holds the diamond), with its text beside it; no arrow.
	Log bool
}

const (
	ladderLeft   = 190 // room for the time column
	ladderColumn = 210
	ladderTop    = 56
	ladderRow    = 30
)

// LegColor is the colour of leg i (by CSS variable).
func LegColor(i int) string { return "var(--leg" + strconv.Itoa(i%6) + ")" }

// LayoutLadder places hosts in the order they first appear and one arrow per
// message, top to bottom in the order given (capture time).
func LayoutLadder(msgs []LadderMessage, titles map[string]string) Ladder {
	col := map[string]int{}
	var l Ladder
	add := func(h string) {
		if _, ok := col[h]; ok {
			return
		}
		col[h] = len(l.Hosts)
		x := ladderLeft + len(l.Hosts)*ladderColumn + ladderColumn/2
		l.Hosts = append(l.Hosts, LadderHost{X: x, Label: h, Title: titles[h]})
	}
	for _, m := range msgs {
		add(m.From)
		add(m.To)
	}
	for i, m := range msgs {
		y := ladderTop + (i+1)*ladderRow
		x1, x2 := l.Hosts[col[m.From]].X, l.Hosts[col[m.To]].X
		a := LadderArrow{X1: x1, X2: x2, Y: y, Label: m.Label, Time: m.Time, Delta: m.Delta,
			Color: LegColor(m.Leg), Href: m.Href, Selected: m.Selected, Self: x1 == x2, Log: m.Log}
		if m.SDP {
			a.Label += " (SDP)"
		}
		if m.Copies > 1 {
			a.Label += " ×" + strconv.Itoa(m.Copies)
		}
		a.LabelX = (x1 + x2) / 2
		switch {
		case a.Log:
			a.Self, a.X2, a.LabelX = false, x1, x1+10
			a.Head = points(x1, y-6, x1+6, y, x1, y+6, x1-6, y)
		case a.Self:
			a.X2 = x1 + 40
			a.LabelX = x1 + 46
			a.Head = points(x1+40, y+6, x1+34, y+2, x1+34, y+10)
		case x2 > x1:
			a.Head = points(x2, y, x2-8, y-4, x2-8, y+4)
		default:
			a.Head = points(x2, y, x2+8, y-4, x2+8, y+4)
		}
		l.Arrows = append(l.Arrows, a)
	}
	l.Width = ladderLeft + max(len(l.Hosts), 2)*ladderColumn
	l.Height = ladderTop + (len(msgs)+1)*ladderRow + 10
	return l
}

func points(xy ...int) string {
	b := make([]byte, 0, 48)
	for i, v := range xy {
		if i > 0 {
			if i%2 == 1 {
				b = append(b, ',')
			} else {
				b = append(b, ' ')
			}
		}
		b = strconv.AppendInt(b, int64(v), 10)
	}
	return string(b)
}
