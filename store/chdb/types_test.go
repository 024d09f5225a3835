package chdb

import "testing"

func TestParseType(t *testing.T) {
	tests := []struct {
		in   string
		kind kind
		size int
	}{
		{"UInt8", kUInt8, 1},
		{"String", kString, 0},
		{"DateTime('Asia/Shanghai')", kDateTime, 4},
		{"DateTime64(6, 'UTC')", kDateTime64, 8},
		{"Decimal(38, 0)", kDecimal, 16},
		{"Decimal(9, 2)", kDecimal, 4},
		{"Decimal(76, 10)", kDecimal, 32},
		{"Decimal64(4)", kDecimal, 8},
		{"FixedString(32)", kFixedString, 32},
		{"LowCardinality(String)", kString, 0},
		{"LowCardinality(Nullable(String))", kNullable, 0},
		{"Nullable(Decimal(38, 0))", kNullable, 0},
		{"Array(Nullable(UInt64))", kArray, 0},
		{"Tuple(a UInt8, b Array(String))", kTuple, 0},
		{"Map(String, Tuple(UInt8, Decimal(38, 0)))", kMap, 0},
		{"Enum8('a' = 1, 'it\\'s, (x)' = -2)", kEnum8, 1},
	}
	for _, tt := range tests {
		got, err := parseType(tt.in)
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if got.kind != tt.kind || got.size != tt.size || got.name != tt.in && tt.kind != kString && tt.kind != kNullable {
			t.Errorf("%s: got kind %d size %d name %q, want kind %d size %d", tt.in, got.kind, got.size, got.name, tt.kind, tt.size)
		}
	}
	if e, _ := parseType("Enum8('a' = 1, 'it\\'s, (x)' = -2)"); e == nil || e.enum[-2] != "it's, (x)" {
		t.Errorf("enum members: got %v", e)
	}
	if tu, _ := parseType("Tuple(a UInt8, b Array(String))"); tu == nil || len(tu.elems) != 2 || tu.elems[1].kind != kArray {
		t.Errorf("named tuple: got %+v", tu)
	}
	for _, bad := range []string{"", "Foo", "Decimal(100, 0)", "FixedString(0)", "Array(UInt8", "UInt8 x", "Map(String)", "DateTime64(12)"} {
		if _, err := parseType(bad); err == nil {
			t.Errorf("%q: got no error", bad)
		}
	}
}
