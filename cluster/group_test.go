package cluster_test

import ch "github.com/ClickHouse/clickhouse-go/v2"

func groupSet(v []any) ch.GroupSet { return ch.GroupSet{Value: v} }
