// Command screenshots renders the demo's incident (the leaked secret of
// Terraform-Datadog-CLI, notifytest.ExampleIncident, the story make demo
// tells) as the Teams card, the report page and the email, checks them
// with the real renderers (tools/render: the Adaptive Cards library and
// headless Chromium), and writes the screenshots the README shows to
// docs/img: the card and the page at desktop (1280 px) and phone (390 px)
// width, and the email. It prints the card's size and every rendered
// height. Run it with `make screenshots`; `make test` does not.
//
// The decision links are illustrative: which decisions an incident offers
// is the act side's (notify.Actions); for a secret already removed these
// are "Rotated, close it" and "False positive".
package main

import (
	"context"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/spresponder/spresponder/internal/notify"
	"github.com/spresponder/spresponder/internal/notify/notifytest"
	"github.com/spresponder/spresponder/internal/rendercheck"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "screenshots:", err)
		os.Exit(1)
	}
}

const (
	desktop = 1280
	phone   = 390
)

func run() error {
	out := flag.String("out", "docs/img", "directory for the PNG files")
	tool := flag.String("tool", "tools/render", "the render harness")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	chromium, node, err := rendercheck.Tools()
	if err != nil {
		return err
	}
	toolDir, err := filepath.Abs(*tool)
	if err != nil {
		return err
	}
	if err := rendercheck.Install(ctx, toolDir); err != nil {
		return err
	}
	outDir, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "spresponder-screenshots-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	in := notifytest.ExampleIncident()
	act := "https://func-spresponder.azurewebsites.net/api/act?t="
	links := notify.ActionLinks{
		Report: act + "report-3q9ZkLwB",
		Buttons: []notify.ActionLink{
			{Kind: "rotated", Label: "Rotated, close it", URL: act + "rotated-Hc2Vx8Rm"},
			{Kind: "falsePositive", Label: "False positive", URL: act + "fp-P4nTq0Ya"},
		},
	}
	card, err := notify.RenderCardWith(in, links)
	if err != nil {
		return err
	}
	page, err := notify.RenderReportPage(in, links)
	if err != nil {
		return err
	}
	mail, err := notify.RenderEmailWith(in, in.Recipients[0], links)
	if err != nil {
		return err
	}
	write := func(name string, b []byte) (string, error) {
		p := filepath.Join(work, name)
		return p, os.WriteFile(p, b, 0o644)
	}
	cardPath, err := write("card.json", card)
	if err != nil {
		return err
	}
	pagePath, err := write("page.html", page)
	if err != nil {
		return err
	}
	mailPath, err := write("email.html", []byte(mail.HTML))
	if err != nil {
		return err
	}
	png := func(name string) string { return filepath.Join(work, name) }
	job := rendercheck.Job{
		Chromium: chromium,
		Cards: []rendercheck.Item{
			{Name: "card (the test's width)", Path: cardPath},
			{Name: "card desktop", Path: cardPath, Width: desktop, PNG: png("teams-card.png")},
			{Name: "card phone", Path: cardPath, Width: phone, PNG: png("teams-card-phone.png")},
		},
		Pages: []rendercheck.Item{
			{Name: "page desktop", Path: pagePath, Width: desktop, PNG: png("report-page.png")},
			{Name: "page phone", Path: pagePath, Width: phone, PNG: png("report-page-phone.png")},
		},
		Emails: []rendercheck.Item{{Name: "email", Path: mailPath, PNG: png("email.png")}},
	}
	res, err := rendercheck.Run(ctx, node, toolDir, work, job)
	if err != nil {
		return err
	}
	if f := res.Findings(); len(f) > 0 || res.Failed {
		return fmt.Errorf("the real renderers found problems: %v", f)
	}
	fmt.Printf("card: %d bytes (limit %d)\n", len(card), notify.MaxCardBytes)
	for _, c := range res.Cards {
		fmt.Printf("%s: %d px high at %d px\n", c.Name, c.Height, c.Width)
	}
	for _, p := range res.Pages {
		fmt.Printf("%s: %d px high at %d px\n", p.Name, p.Height, p.Width)
	}
	for _, e := range res.Emails {
		fmt.Printf("%s: %d px high\n", e.Name, e.Height)
	}
	// Phone-width shots come from a window Chromium will not make narrower
	// than 500 px, with the content on the left: cut them to the phone.
	for name, width := range map[string]int{"teams-card.png": 0, "teams-card-phone.png": phone, "report-page.png": 0, "report-page-phone.png": phone, "email.png": 0} {
		n, err := keep(png(name), filepath.Join(outDir, name), width)
		if err != nil {
			return err
		}
		fmt.Printf("%s: %d bytes\n", filepath.Join(*out, name), n)
	}
	return nil
}

// keep writes the screenshot at from to to, cut to width CSS pixels when
// width is not 0, with at most 256 colours and compressed as far as PNG
// goes, so that the docs stay small.
func keep(from, to string, width int) (int64, error) {
	f, err := os.Open(from)
	if err != nil {
		return 0, fmt.Errorf("screenshot: %w", err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		return 0, fmt.Errorf("screenshot %s: %w", from, err)
	}
	if b := img.Bounds(); width > 0 && b.Dx() > width {
		img = img.(interface {
			SubImage(image.Rectangle) image.Image
		}).SubImage(image.Rect(b.Min.X, b.Min.Y, b.Min.X+width, b.Max.Y))
	}
	img = paletted(img)
	o, err := os.Create(to)
	if err != nil {
		return 0, err
	}
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(o, img); err != nil {
		o.Close()
		return 0, fmt.Errorf("write %s: %w", to, err)
	}
	if err := o.Close(); err != nil {
		return 0, err
	}
	st, err := os.Stat(to)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// paletted maps the image to its 256 most frequent colours (each pixel to
// the nearest): a screenshot of text on a few backgrounds has hardly more,
// and a paletted PNG is a fraction of the size.
func paletted(img image.Image) image.Image {
	b := img.Bounds()
	count := map[color.RGBA]int{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			count[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)]++
		}
	}
	colors := make([]color.RGBA, 0, len(count))
	for c := range count {
		colors = append(colors, c)
	}
	sort.Slice(colors, func(i, j int) bool {
		if count[colors[i]] != count[colors[j]] {
			return count[colors[i]] > count[colors[j]]
		}
		a, c := colors[i], colors[j]
		return uint32(a.R)<<24|uint32(a.G)<<16|uint32(a.B)<<8|uint32(a.A) < uint32(c.R)<<24|uint32(c.G)<<16|uint32(c.B)<<8|uint32(c.A)
	})
	pal := make(color.Palette, 0, 256)
	for _, c := range colors[:min(256, len(colors))] {
		pal = append(pal, c)
	}
	out := image.NewPaletted(b, pal)
	index := map[color.RGBA]uint8{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			i, ok := index[c]
			if !ok {
				i = uint8(pal.Index(c))
				index[c] = i
			}
			out.SetColorIndex(x, y, i)
		}
	}
	return out
}
