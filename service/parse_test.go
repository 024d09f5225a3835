package service

import (
	"testing"
	"time"
)

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "7d", want: now.AddDate(0, 0, -7)},
		{in: "0d", want: now},
		{in: "90m", want: now.Add(-90 * time.Minute)},
		{in: "2026-11-20", want: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)},
		{in: "2026-11-20T08:30:00Z", want: time.Date(2026, 11, 20, 8, 30, 0, 0, time.UTC)},
		{in: "-5m", bad: true},
		{in: "7days", bad: true},
		{in: "x7d", bad: true},
		{in: "yesterday", bad: true},
	} {
		got, err := ParseSince(tc.in, now)
		if tc.bad {
			if err == nil {
				t.Errorf("%q: got %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("%q: got %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
