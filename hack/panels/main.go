/*
Copyright 2026 The Outrigger Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Command panels is what `make panels` runs: it draws one PNG per dashboard panel from
// the data the Prometheus e2e spec kept (E2E_PANELS_OUT: every panel query's range from
// the real Prometheus that scraped the deployed operator), as line charts: the panel's
// title, its series in the dashboard's legends, the y range and the time range. It is
// not Grafana's rendering, only the same queries' data drawn plainly.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

type series struct {
	Legend string       `json:"legend"`
	Points [][2]float64 `json:"points"`
}

type panel struct {
	Title  string   `json:"title"`
	Unit   string   `json:"unit"`
	Series []series `json:"series"`
}

const (
	width, height          = 900, 340
	left, right, top, plot = 70, 20, 30, 200
)

var palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0xd6, 0x27, 0x28, 0xff},
	{0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x7f, 0x7f, 0x7f, 0xff},
}

func main() {
	in := flag.String("in", "bin/e2e-panels.json", "The panels' data the Prometheus e2e spec wrote (E2E_PANELS_OUT).")
	out := flag.String("out", "docs/images/dashboard", "Directory the PNGs are written to.")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintf(os.Stderr, "make panels: %v\n", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	b, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var panels []panel
	if err := json.Unmarshal(b, &panels); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, p := range panels {
		name := strings.Trim(strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
				return r
			}
			return '-'
		}, strings.ToLower(p.Title)), "-")
		name = strings.Join(strings.FieldsFunc(name, func(r rune) bool { return r == '-' }), "-")
		f, err := os.Create(filepath.Join(out, name+".png"))
		if err != nil {
			return err
		}
		if err := png.Encode(f, drawPanel(p)); err != nil {
			_ = f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Println(filepath.Join(out, name+".png"))
	}
	return nil
}

func text(img draw.Image, x, y int, s string, c color.Color) {
	d := &font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := math.Abs(float64(x1-x0)), math.Abs(float64(y1-y0))
	steps := int(math.Max(dx, dy))
	if steps == 0 {
		img.SetRGBA(x0, y0, c)
		return
	}
	for i := 0; i <= steps; i++ {
		x := x0 + (x1-x0)*i/steps
		y := y0 + (y1-y0)*i/steps
		img.SetRGBA(x, y, c)
		img.SetRGBA(x, y+1, c)
	}
}

func format(v float64, unit string) string {
	switch {
	case unit == "s" && v > 0 && v < 1e-3:
		return fmt.Sprintf("%.0fµs", v*1e6)
	case unit == "s" && v > 0 && v < 1:
		return fmt.Sprintf("%.1fms", v*1e3)
	case unit == "s":
		return fmt.Sprintf("%.2fs", v)
	case v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func drawPanel(p panel) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	grey := color.RGBA{0xcc, 0xcc, 0xcc, 0xff}
	text(img, left, 18, p.Title, color.Black)

	tmin, tmax, vmax := math.Inf(1), math.Inf(-1), 0.0
	for _, s := range p.Series {
		for _, pt := range s.Points {
			tmin, tmax = math.Min(tmin, pt[0]), math.Max(tmax, pt[0])
			if !math.IsNaN(pt[1]) && !math.IsInf(pt[1], 0) {
				vmax = math.Max(vmax, pt[1])
			}
		}
	}
	if vmax == 0 {
		vmax = 1
	}
	vmax *= 1.1
	w := width - left - right
	for i := 0; i <= 4; i++ {
		y := top + plot - plot*i/4
		line(img, left, y, left+w, y, grey)
		text(img, 4, y+4, format(vmax*float64(i)/4, p.Unit), color.Black)
	}
	if len(p.Series) == 0 || tmax <= tmin {
		text(img, left+10, top+plot/2, "no data in the range", color.Black)
		return img
	}
	text(img, left, top+plot+16, time.Unix(int64(tmin), 0).UTC().Format("15:04:05 UTC"), color.Black)
	end := time.Unix(int64(tmax), 0).UTC().Format("15:04:05 UTC")
	text(img, left+w-7*len(end), top+plot+16, end, color.Black)

	x := func(t float64) int { return left + int(float64(w)*(t-tmin)/(tmax-tmin)) }
	y := func(v float64) int { return top + plot - int(float64(plot)*v/vmax) }
	for i, s := range p.Series {
		c := palette[i%len(palette)]
		for j := 1; j < len(s.Points); j++ {
			a, b := s.Points[j-1], s.Points[j]
			if math.IsNaN(a[1]) || math.IsNaN(b[1]) || b[0]-a[0] > 30 {
				continue
			}
			line(img, x(a[0]), y(a[1]), x(b[0]), y(b[1]), c)
		}
		lx := left + (i%3)*280
		ly := top + plot + 34 + (i/3)*16
		if ly < height-4 {
			draw.Draw(img, image.Rect(lx, ly-9, lx+12, ly+1), image.NewUniform(c), image.Point{}, draw.Src)
			legend := s.Legend
			if len(legend) > 36 {
				legend = legend[:36]
			}
			text(img, lx+16, ly, legend, color.Black)
		}
	}
	return img
}
