package remoting

// internTable holds the extFields keys (and a few values) of the frequent requests and
// responses, so that decoding them from a JSON header allocates no string (a binary header's
// are read where they lie, see Command.Lookup). It is never modified.
var internTable = func() map[string]string {
	words := []string{
		// SEND_MESSAGE (10) and its response
		"producerGroup", "topic", "defaultTopic", "defaultTopicQueueNums", "queueId", "sysFlag",
		"bornTimestamp", "flag", "properties", "reconsumeTimes", "unitMode", "batch",
		"maxReconsumeTimes", "msgId", "queueOffset", "transactionId", "MSG_REGION", "TRACE_ON",
		// SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE (320) short keys
		"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n",
		// PULL_MESSAGE (11) and its response
		"consumerGroup", "queueOffset", "maxMsgNums", "commitOffset", "suspendTimeoutMillis",
		"subscription", "subVersion", "expressionType", "nextBeginOffset", "minOffset",
		"maxOffset", "suggestWhichBrokerId",
		// offsets, send-back, transactions
		"offset", "timestamp", "delayLevel", "originMsgId", "originTopic", "commitLogOffset",
		"tranStateTableOffset", "commitOrRollback", "fromTransactionCheck",
		// ACL and name server
		"AccessKey", "Signature", "SecurityToken", "acceptStandardJsonOnly", "brokerName",
		"brokerAddr", "clusterName", "brokerId",
		// values
		"0", "1", "-1", "4", "true", "false", "TBW102", "TAG", "SQL92", "DefaultRegion",
	}
	words = append(words, languages[:]...)
	m := make(map[string]string, len(words))
	for _, w := range words {
		m[w] = w
		maxInterned = max(maxInterned, len(w))
	}
	return m
}()

// maxInterned is the length of the longest string in internTable.
var maxInterned int

// intern returns b as a string, without allocating when it is in internTable. Longer byte
// strings are not looked up: hashing a long value (a message's properties) only to miss costs
// more than the look-up saves.
func intern(b []byte) string {
	if len(b) <= maxInterned {
		if s, ok := internTable[string(b)]; ok {
			return s
		}
	}
	return string(b)
}
