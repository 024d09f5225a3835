// Package service holds the operations an investigator runs: an address
// summary, a transaction, a cluster and why two addresses share one, a
// trace, an exposure, label lookups and imports, the alerts published, an
// exposure report and what the store holds. Each is a method of Service
// with a typed request and result; the CLI and the HTTP API call the same
// methods and print or return the same JSON.
//
// Requests carry what a user types (addresses, dates, amounts as text) and
// the service checks them: a request it cannot answer fails with an error
// that errors.Is reports as ErrInvalid, a subject the store does not hold
// with ErrNotFound. The message of either is the one the CLI prints, so an
// HTTP caller reads the same words.
//
// Results are the records of the packages below (store, cluster, trace,
// labels, alert, report); where one operation answers with different
// records per chain (an address of Bitcoin or of Ethereum), the result
// holds one of them and marshals as that record alone.
package service
