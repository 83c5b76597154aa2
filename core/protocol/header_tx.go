package protocol

// EndTransactionHeader is the request header of END_TRANSACTION (37).
type EndTransactionHeader struct {
	ProducerGroup        string // req: must equal the half message's PGROUP
	TranStateTableOffset int64  // req: the half message's queue offset
	CommitLogOffset      int64  // req: the half message's physical offset
	CommitOrRollback     int32  // req: TransactionCommit, TransactionRollback or TransactionNotType
	FromTransactionCheck bool
	MsgID                string // req: UNIQ_KEY
	TransactionID        string
}

// Decode reads the header from extFields. Like Java's checkFields it rejects a
// commitOrRollback other than 0, 8 or 12.
func (h *EndTransactionHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	*h = EndTransactionHeader{
		ProducerGroup:        r.str("producerGroup", true),
		TranStateTableOffset: r.int64("tranStateTableOffset", true),
		CommitLogOffset:      r.int64("commitLogOffset", true),
		CommitOrRollback:     r.int32("commitOrRollback", true),
		FromTransactionCheck: r.bool("fromTransactionCheck", false),
		MsgID:                r.str("msgId", true),
		TransactionID:        r.str("transactionId", false),
	}
	if r.err == nil {
		switch h.CommitOrRollback {
		case TransactionNotType, TransactionCommit, TransactionRollback:
		default:
			r.fail("commitOrRollback", r.str("commitOrRollback", false), "0, 8 or 12", ErrInvalidField)
		}
	}
	return r.err
}

// Encode returns the header as extFields.
func (h *EndTransactionHeader) Encode() map[string]string {
	m := map[string]string{
		"producerGroup":        h.ProducerGroup,
		"tranStateTableOffset": i64s(h.TranStateTableOffset),
		"commitLogOffset":      i64s(h.CommitLogOffset),
		"commitOrRollback":     i32s(h.CommitOrRollback),
		"fromTransactionCheck": bools(h.FromTransactionCheck),
		"msgId":                h.MsgID,
	}
	putOpt(m, "transactionId", h.TransactionID)
	return m
}

// CheckTransactionStateHeader is the header of CHECK_TRANSACTION_STATE (39), broker →
// producer, sent oneway. Body: the half message's record with its real topic and queue.
type CheckTransactionStateHeader struct {
	TranStateTableOffset int64 // req
	CommitLogOffset      int64 // req
	MsgID                string
	TransactionID        string
	OffsetMsgID          string
}

// Decode reads the header from extFields.
func (h *CheckTransactionStateHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	*h = CheckTransactionStateHeader{
		TranStateTableOffset: r.int64("tranStateTableOffset", true),
		CommitLogOffset:      r.int64("commitLogOffset", true),
		MsgID:                r.str("msgId", false),
		TransactionID:        r.str("transactionId", false),
		OffsetMsgID:          r.str("offsetMsgId", false),
	}
	return r.err
}

// Encode returns the header as extFields.
func (h *CheckTransactionStateHeader) Encode() map[string]string {
	m := map[string]string{
		"tranStateTableOffset": i64s(h.TranStateTableOffset),
		"commitLogOffset":      i64s(h.CommitLogOffset),
	}
	putOpt(m, "msgId", h.MsgID)
	putOpt(m, "transactionId", h.TransactionID)
	putOpt(m, "offsetMsgId", h.OffsetMsgID)
	return m
}
