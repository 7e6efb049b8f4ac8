package views

import (
	"math"
	"strconv"
	"time"
)

// ChartPoint is one value at a time.
type ChartPoint struct {
	T time.Time
	V float64
}

// Chart is a small time series chart, positioned and ready to draw as SVG.
type Chart struct {
	Title         string // "Jitter (ms)"
	Width, Height int
	// The plot area.
	Left, Top, Right, Bottom int
	Line                     string // polyline points
	Dots                     []ChartDot
	YTicks, XTicks           []ChartTick
	Empty                    bool   // no point: the chart says so
	TestID                   string // the svg's data-testid; "" is "qos-chart"
}

// ID is the chart's data-testid.
func (c Chart) ID() string {
	if c.TestID == "" {
		return "qos-chart"
	}
	return c.TestID
}

// ChartDot is one drawn point, with its value as a tooltip.
type ChartDot struct {
	X, Y  int
	Title string
}

// ChartTick is an axis label at a position (Y for the value axis, X for time).
type ChartTick struct {
	Pos    int
	Label  string
	Anchor string // SVG text-anchor of a time label: the first starts, the last ends at its tick, so neither is cut
}

const (
	chartWidth  = 340
	chartHeight = 150
	chartLeft   = 52
	chartRight  = 12
	chartTop    = 24
	chartBottom = 28
)

// LayoutChart places pts on a chart whose time axis runs from t0 to t1 (the
// call's span, so every chart of a call lines up) and whose value axis runs
// from 0 (or the lowest value when negative) to the highest value rounded up
// to a readable step. floor, when above 0, is the least top of the value axis
// (1 for MOS: 0 to 5 reads better than 4.39 to 4.41). Points outside [t0,t1]
// widen the time axis.
func LayoutChart(title string, t0, t1 time.Time, pts []ChartPoint, floor float64, tz *time.Location) Chart {
	c := Chart{Title: title, Width: chartWidth, Height: chartHeight, Left: chartLeft, Top: chartTop,
		Right: chartWidth - chartRight, Bottom: chartHeight - chartBottom}
	if len(pts) == 0 {
		c.Empty = true
		return c
	}
	if tz == nil {
		tz = time.UTC
	}
	lo, hi := 0.0, floor
	for _, p := range pts {
		if p.T.Before(t0) || t0.IsZero() {
			t0 = p.T
		}
		if p.T.After(t1) {
			t1 = p.T
		}
		lo, hi = math.Min(lo, p.V), math.Max(hi, p.V)
	}
	if !t1.After(t0) {
		t1 = t0.Add(time.Second)
	}
	step := niceStep((hi - lo) / 4)
	if hi <= lo {
		hi = lo + 1
		step = 0.25
	}
	hi = math.Ceil(hi/step) * step
	lo = math.Floor(lo/step) * step
	span := t1.Sub(t0).Seconds()
	x := func(t time.Time) int {
		return c.Left + int(math.Round(t.Sub(t0).Seconds()/span*float64(c.Right-c.Left)))
	}
	y := func(v float64) int {
		return c.Bottom - int(math.Round((v-lo)/(hi-lo)*float64(c.Bottom-c.Top)))
	}
	for v := lo; v <= hi+step/2; v += step {
		c.YTicks = append(c.YTicks, ChartTick{Pos: y(v), Label: formatValue(v)})
	}
	for i := 0; i <= 2; i++ {
		t := t0.Add(time.Duration(float64(t1.Sub(t0)) * float64(i) / 2))
		anchor := [...]string{"start", "middle", "end"}[i]
		c.XTicks = append(c.XTicks, ChartTick{Pos: x(t), Label: t.In(tz).Format("15:04:05"), Anchor: anchor})
	}
	b := make([]byte, 0, len(pts)*10)
	for i, p := range pts {
		px, py := x(p.T), y(p.V)
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendInt(b, int64(px), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(py), 10)
		c.Dots = append(c.Dots, ChartDot{X: px, Y: py, Title: p.T.In(tz).Format("15:04:05.000") + ": " + formatValue(p.V)})
	}
	c.Line = string(b)
	return c
}

// niceStep rounds a raw step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// formatValue writes v with at most two decimals and no trailing zeros.
func formatValue(v float64) string {
	if math.Abs(v) >= 1e6 {
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}
