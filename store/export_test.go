package store

import "time"

// MigrateTo and RebuildStatements let the tests build a store as an older
// version left it.
var MigrateTo = migrate

func RebuildStatements(table string) []string {
	for _, t := range lookupTables {
		if t.name == table {
			return rebuild(t.name, t.engine, t.orderBy)
		}
	}
	return nil
}

var LookupTables = LookupTableNames

// SetMigrationLockWait sets how long Migrate waits for another process's
// lock, and returns the previous value.
func SetMigrationLockWait(d time.Duration) time.Duration {
	old := migrationLockWait
	migrationLockWait = d
	return old
}

// MigrationStatements are the statements of migration version v.
func MigrationStatements(v uint32) []string {
	for _, m := range Migrations {
		if m.Version == v {
			return m.Statements
		}
	}
	return nil
}
