package ingest

func PayloadConstsForTest() []string { return payloadConsts[:] }

func ConstIndexForTest(s string) int { return constIndex(s) }
