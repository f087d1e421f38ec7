package main

import (
	"fmt"
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// writeChart draws one panel per set: a group per workload, a bar per
// configuration, each bar's height its throughput over the best durable
// peer's in that workload (1 = the best peer), and daxkv's bars labelled
// with that ratio.
func (rep *report) writeChart(file string) error {
	var plots [][]*plot.Plot
	for _, s := range rep.sets {
		p, err := rep.panel(s)
		if err != nil {
			return err
		}
		if p != nil {
			plots = append(plots, []*plot.Plot{p})
		}
	}
	if len(plots) == 0 {
		progress("no chart: no durable peer ran, so there is nothing to compare with")
		os.Remove(file) // never leave an older run's chart beside these results
		return nil
	}
	width, height := vg.Points(1500), vg.Points(560*float64(len(plots)))
	img := vgimg.New(width, height)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadTop: vg.Points(8), PadBottom: vg.Points(8),
		PadLeft: vg.Points(8), PadRight: vg.Points(8), PadY: vg.Points(24)}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (rep *report) panel(s set) (*plot.Plot, error) {
	type group struct{ workload, medium, label string }
	var groups []group
	for _, w := range workloadOrder {
		for _, m := range []string{"shm", "disk"} {
			if rep.bestPeer(s.valSize, w, m) == nil {
				continue
			}
			label := w
			if m == "disk" {
				label = w + " (" + rep.Machine.DiskFS + ")"
			}
			groups = append(groups, group{w, m, label})
		}
	}
	if len(groups) == 0 {
		return nil, nil
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%d keys, %d-byte values: throughput over the best durable peer (1 = best peer; %s, medians of %d)",
		s.num, s.valSize, rep.Machine.Commit, rep.Machine.Rounds)
	if s.raft {
		p.Title.Text = fmt.Sprintf("raft log, %d entries of %d bytes through StoreLogs: calls/s over the best durable peer (1 = best peer; %s, medians of %d)",
			s.num, s.valSize, rep.Machine.Commit, rep.Machine.Rounds)
	}
	p.Y.Label.Text = "ops/s ÷ best peer's ops/s"
	p.Legend.Top = true
	p.Legend.Left = false
	names := make([]string, len(groups))
	for i, g := range groups {
		names[i] = g.label
	}
	var cfgs []config
	for _, c := range rep.cfgs {
		if c.raft != s.raft {
			continue
		}
		if rep.summary(s.valSize, c.name) != nil || c.limited && rep.find(s.valSize, c.name, "fillrandom") != nil ||
			c.raft && rep.find(s.valSize, c.name, raftWorkloads[0].name) != nil {
			cfgs = append(cfgs, c)
		}
	}
	barW := vg.Points(9)
	for i, c := range cfgs {
		vals := make(plotter.Values, len(groups))
		var xys plotter.XYs
		var labels []string
		for gi, g := range groups {
			r := rep.find(s.valSize, c.name, g.workload)
			if r == nil || r.Medium != g.medium {
				continue
			}
			best := rep.bestPeer(s.valSize, g.workload, g.medium)
			vals[gi] = r.OpsPerSec / best.OpsPerSec
			if c.store == "daxkv" {
				xys = append(xys, plotter.XY{X: float64(gi), Y: vals[gi]})
				labels = append(labels, fmt.Sprintf("%.2gx", vals[gi]))
			}
		}
		bc, err := plotter.NewBarChart(vals, barW)
		if err != nil {
			return nil, err
		}
		bc.Color = palette[rep.cfgIndex(c.name)%len(palette)] // one colour per configuration in every panel
		bc.LineStyle.Width = 0
		off := barW * vg.Length(float64(i)-float64(len(cfgs)-1)/2)
		bc.Offset = off
		p.Add(bc)
		p.Legend.Add(c.name, bc)
		if len(xys) > 0 {
			l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
			if err != nil {
				return nil, err
			}
			for j := range l.TextStyle {
				l.TextStyle[j].Font.Size = vg.Points(7)
				l.TextStyle[j].Rotation = 1.5708
				l.TextStyle[j].Color = color.Black
				l.TextStyle[j].XAlign = draw.XLeft
				l.TextStyle[j].YAlign = draw.YCenter
			}
			l.Offset = vg.Point{X: off, Y: vg.Points(2)}
			p.Add(l)
		}
	}
	p.Add(plotter.NewGrid())
	// Room above the tallest bar for the legend and the labels.
	p.Y.Min = 0
	p.Y.Max *= 1.3
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = 0.4
	p.X.Tick.Label.XAlign = draw.XRight
	return p, nil
}

// palette is Tableau's ten colours: distinct for every configuration.
var palette = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0xff, 0x7f, 0x0e, 0xff}, color.RGBA{0x2c, 0xa0, 0x2c, 0xff},
	color.RGBA{0xd6, 0x27, 0x28, 0xff}, color.RGBA{0x94, 0x67, 0xbd, 0xff}, color.RGBA{0x8c, 0x56, 0x4b, 0xff},
	color.RGBA{0xe3, 0x77, 0xc2, 0xff}, color.RGBA{0x7f, 0x7f, 0x7f, 0xff}, color.RGBA{0xbc, 0xbd, 0x22, 0xff},
	color.RGBA{0x17, 0xbe, 0xcf, 0xff},
}

func (rep *report) cfgIndex(name string) int {
	for i, c := range rep.cfgs {
		if c.name == name {
			return i
		}
	}
	return 0
}
