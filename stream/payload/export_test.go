package payload

func ConstsForTest() []string { return payloadConsts[:] }

func ConstIndexForTest(s string) int { return constIndex(s) }
