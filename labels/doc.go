// Package labels attributes addresses and clusters to entities, with
// provenance: which list said so, where in it, since when, with what
// confidence and who added it.
//
// # Sources
//
// Four importers turn files into labels (see Parse):
//
//   - ofac-csv: OFAC's SDN.CSV (headerless, 12 columns, "-0-" for null,
//     latin-1) with an optional SDN_COMMENTS.CSV. Digital currency addresses
//     sit in the remarks column as "Digital Currency Address - XBT <addr>;
//     alt. Digital Currency Address - ETH <addr>; ...". OFAC cuts remarks at
//     1,000 characters and continues them in SDN_COMMENTS.CSV under the same
//     entity number.
//   - ofac-xml: OFAC's sdn_advanced.xml, where a FeatureType named
//     "Digital Currency Address - <ASSET>" carries the address in a
//     VersionDetail.
//   - tagpack: GraphSense TagPack YAML; header fields are inherited by
//     every tag.
//   - csv: chain,address,entity,category,source,confidence with a header.
//
// Assets map to chains by the address's form, not only by the ticker: the
// real SDN list files TRON and Ethereum addresses under USDT, and even a
// TRON address under XBT. An address that does not parse for its chain is
// reported (entity, file, line), never imported under a guessed chain.
//
// # History
//
// Labels are stored per import, append only (store migration 4). The
// labels of a source are those of its latest import in force at a date, so
// a newer list supersedes the older one (an address it drops is no longer
// current) while "as known on date D" stays answerable. Importing a file
// whose content the source already holds changes nothing.
//
// # Reading labels
//
// Store.List filters the labels in force at a date by category (one or
// several), chain and source; Store.Lookup labels many addresses of one
// chain at once; Store.Show gives one address's labels with their history
// per source, and ShowWithCluster adds the labels that reach a Bitcoin
// address through its cluster (a cluster:ID label, or a label whose source
// says it defines the cluster) through a ClusterFinder such as
// trace.Clusters.
package labels
