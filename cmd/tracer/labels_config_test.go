package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestLabelsConfig: the labels keys load from the file and from TRACER_*
// variables (a list as comma-separated values).
func TestLabelsConfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tracer.yaml")
	if err := os.WriteFile(p, []byte("labels:\n  categories: [gambling]\n  ofac_confidence: 80\n  added_by: alice\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Labels.Categories, []string{"gambling"}) || c.Labels.OFACConfidence != 80 || c.Labels.AddedBy != "alice" {
		t.Errorf("from file: got %+v", c.Labels)
	}
	t.Setenv("TRACER_LABELS_CATEGORIES", "ransomware, scam ,")
	t.Setenv("TRACER_LABELS_OFAC_CONFIDENCE", "95")
	if c, err = loadConfig(p); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Labels.Categories, []string{"ransomware", "scam"}) || c.Labels.OFACConfidence != 95 {
		t.Errorf("from the environment: got %+v", c.Labels)
	}
	// The shipped file documents the keys and loads.
	if c, err = loadConfig("../../configs/tracer.yaml"); err != nil {
		t.Fatal(err)
	}
	if c.Labels.OFACConfidence != 95 { // the environment still wins
		t.Errorf("shipped file: got %+v", c.Labels)
	}
	t.Setenv("TRACER_LABELS_OFAC_CONFIDENCE", "")
	os.Unsetenv("TRACER_LABELS_OFAC_CONFIDENCE")
	os.Unsetenv("TRACER_LABELS_CATEGORIES")
	if c, err = loadConfig("../../configs/tracer.yaml"); err != nil || c.Labels.OFACConfidence != 90 || len(c.Labels.Categories) != 0 {
		t.Errorf("shipped defaults: %v %+v", err, c.Labels)
	}
}
