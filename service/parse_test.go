package service

import (
	"fmt"
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

func TestParseSatoshi(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "0", want: 0},
		{in: "5000", want: 5000},
		{in: "0.001btc", want: 100_000},
		{in: " 1.5 BTC ", want: 150_000_000},
		{in: "21000000btc", want: 2_100_000_000_000_000},
		{in: "0.00000001btc", want: 1},
		{in: "0.123456789btc", bad: true},
		{in: "21000001btc", bad: true},
		{in: "-1", bad: true},
		{in: "-1btc", bad: true},
		{in: "1.5", bad: true},
		{in: "lots", bad: true},
	} {
		got, err := ParseSatoshi(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("%q: got %d, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: got %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

// FuzzParseSatoshi: whatever it accepts is a non-negative amount no larger
// than the supply, and BTC with eight decimals reads back exactly.
func FuzzParseSatoshi(f *testing.F) {
	for _, s := range []string{"0", "5000", "0.001btc", "1.5 BTC", "21000000btc", "-1", "0.123456789btc", "1e5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseSatoshi(s)
		if err != nil {
			return
		}
		if v < 0 {
			t.Fatalf("%q: got %d, want no negative amount", s, v)
		}
		if v > 21_000_000*100_000_000 {
			return // satoshi beyond the supply are not refused
		}
		again, err := ParseSatoshi(fmt.Sprintf("%d.%08dbtc", v/100_000_000, v%100_000_000))
		if err != nil || again != v {
			t.Fatalf("%q = %d: as BTC it reads back as %d, %v", s, v, again, err)
		}
	})
}

func TestParseAsOf(t *testing.T) {
	if got, err := ParseAsOf(""); err != nil || !got.IsZero() {
		t.Errorf("empty: got %v, %v; want the zero time (now)", got, err)
	}
	if got, err := ParseAsOf("2024-03-01"); err != nil || !got.Equal(time.Date(2024, 3, 1, 23, 59, 59, 0, time.UTC)) {
		t.Errorf("a day: got %v, %v; want its end", got, err)
	}
	if got, err := ParseAsOf("2024-03-01T10:00:00+02:00"); err != nil || !got.Equal(time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC)) || got.Location() != time.UTC {
		t.Errorf("RFC 3339: got %v, %v; want 08:00 UTC", got, err)
	}
	if _, err := ParseAsOf("March"); err == nil {
		t.Error("March: got no error")
	}
}
