package views

import (
	"strconv"
	"time"
)

// StatsPage is the statistics page over a time range.
type StatsPage struct {
	Nav          Nav
	Since, Until string // the form's datetime-local values, in TZ
	TZ           string
	Presets      []Tab  // quick ranges (last hour, 6 h, 24 h, 7 days)
	Range        string // what the figures cover: whole hours, in TZ
	Counting     int    // hours of the range still being counted
	Error        string
	Empty        bool // no statistics in the range
	APIHref      string
	KPIs         []KPI
	Charts       []Chart
	Methods      BarChart
	Codes        BarChart
	Delays       []DelayRow
	Regs         []KPI
	TopIPs       []TopRow
	TopUAs       []TopRow
	TopDests     []TopRow
	Alarms       []AlarmRow
	AlarmCount   int64
	AlarmsListed int
}

// KPI is one headline figure.
type KPI struct {
	Label, Value, TestID string
	Warn                 bool
}

// DelayRow is one delay's percentiles.
type DelayRow struct {
	Name, Samples, Mean, P50, P90, P99 string
}

// TopRow is one entry of a top list.
type TopRow struct {
	Key, Count string
	Approx     bool // the count may be too high (a space-saving table's error)
}

// AlarmRow is one scanner alarm.
type AlarmRow struct {
	Time, Kind, Source, Detail string
}

// BarChart is a horizontal bar chart, positioned and ready to draw as SVG.
type BarChart struct {
	Title         string
	TestID        string
	Width, Height int
	Bars          []Bar
}

// Bar is one bar: its label, value and geometry.
type Bar struct {
	Label, Value string
	Y, W         int
}

const (
	barWidth  = 340
	barLabel  = 90 // room for the labels on the left
	barRow    = 18
	barTop    = 22
	barMaxLen = barWidth - barLabel - 60 // room for the value on the right
)

// LayoutBars draws one bar per label and value, longest bar for the highest
// value.
func LayoutBars(title, testID string, labels []string, values []int64) BarChart {
	c := BarChart{Title: title, TestID: testID, Width: barWidth, Height: barTop + barRow*len(labels) + 6}
	top := int64(1)
	for _, v := range values {
		top = max(top, v)
	}
	for i, l := range labels {
		w := int(values[i] * barMaxLen / top)
		if values[i] > 0 {
			w = max(w, 1)
		}
		c.Bars = append(c.Bars, Bar{Label: l, Value: strconv.FormatInt(values[i], 10), Y: barTop + i*barRow, W: w})
	}
	return c
}

// BarX is where the bars start.
func (c BarChart) BarX() int { return barLabel }

// LayoutSeries is LayoutChart for a statistics series over hours or days:
// its time labels carry the date.
func LayoutSeries(title, testID string, t0, t1 time.Time, pts []ChartPoint, tz *time.Location) Chart {
	c := LayoutChart(title, t0, t1, pts, 0, tz)
	c.TestID = testID
	if tz == nil {
		tz = time.UTC
	}
	if !c.Empty {
		span := t1.Sub(t0)
		layout := "Jan 2 15:04"
		if span <= 24*time.Hour {
			layout = "15:04"
		}
		for i := range c.XTicks {
			t := t0.Add(time.Duration(float64(span) * float64(i) / float64(max(1, len(c.XTicks)-1))))
			c.XTicks[i].Label = t.In(tz).Format(layout)
		}
		for i, p := range pts {
			c.Dots[i].Title = p.T.In(tz).Format("Jan 2 15:04") + ": " + formatValue(p.V)
		}
	}
	return c
}
