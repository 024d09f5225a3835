package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Load reads the file at path (empty: $TRACER_CONFIG, and when that is
// empty too no file) over the defaults, then applies the TRACER_*
// environment variables, and checks what can be checked without the
// components. An unknown key in the file is an error.
func Load(path string) (Config, error) {
	c := Default()
	if path == "" {
		path = os.Getenv("TRACER_CONFIG")
	}
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(raw)))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := applyEnv(reflect.ValueOf(&c).Elem(), "TRACER"); err != nil {
		return c, err
	}
	if _, err := c.Cluster.Deposit.Heuristic(); err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	if c.Data == "" {
		// A file that leaves data empty means the default, not "none".
		c.Data = defaultDataDir()
	}
	return c, nil
}

// applyEnv sets every leaf field from TRACER_<PATH> when that is set.
func applyEnv(v reflect.Value, prefix string) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		name := prefix + "_" + strings.ToUpper(tag)
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(Duration{}) {
			if err := applyEnv(fv, name); err != nil {
				return err
			}
			continue
		}
		s, ok := os.LookupEnv(name)
		if !ok {
			continue
		}
		if err := setField(fv, s); err != nil {
			return fmt.Errorf("config: %s=%q: %w", name, s, err)
		}
	}
	return nil
}

func setField(fv reflect.Value, s string) error {
	switch fv.Interface().(type) {
	case Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		fv.Set(reflect.ValueOf(Duration{d}))
		return nil
	}
	switch fv.Kind() {
	case reflect.Slice:
		if fv.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported type %s", fv.Type())
		}
		// A list of strings from the environment: comma-separated.
		var list []string
		for _, e := range strings.Split(s, ",") {
			if e = strings.TrimSpace(e); e != "" {
				list = append(list, e)
			}
		}
		fv.Set(reflect.ValueOf(list))
	case reflect.String:
		fv.SetString(s)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		fv.SetInt(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		fv.SetBool(b)
	default:
		return fmt.Errorf("unsupported type %s", fv.Type())
	}
	return nil
}
