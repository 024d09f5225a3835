// Package config is the tracer's configuration: the Config value that
// configs/tracer.yaml documents key by key, its defaults (Default), how it
// is read (Load: the YAML file, then TRACER_* environment variables), and
// the translations of its sections into the configurations of the
// components (Pipeline, Clusterer, Alerter, Service).
//
// Precedence, highest first: command-line flags, TRACER_* environment
// variables, the file, the defaults. The environment variable of a key is
// its path in upper case joined by underscores (store.dsn ->
// TRACER_STORE_DSN); a list of strings is comma-separated there. Flags
// belong to the command: cmd/tracer sets them on the loaded value.
package config
